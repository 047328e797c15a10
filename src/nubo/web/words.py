"""Words for the codes the pipeline and the services store (translated by the templates)."""

from __future__ import annotations

from nubo.web.forms import N_

PROCESSING = {
    "created": N_("Waiting for its file"),
    "uploaded": N_("Uploaded"),
    "queued": N_("Queued"),
    "processing": N_("Processing"),
    "processed": N_("Processed"),
    "failed": N_("Failed"),
}
PHASES = {
    "taxi-out": N_("Taxi out"),
    "takeoff": N_("Takeoff"),
    "climb": N_("Climb"),
    "cruise": N_("Cruise"),
    "descent": N_("Descent"),
    "approach": N_("Approach"),
    "landing": N_("Landing"),
    "taxi-in": N_("Taxi in"),
}
FINDINGS = {
    "recorded_warning": N_("Bleed warnings recorded"),
    "leak": N_("Bleed leak"),
    "overpressure": N_("Overpressure"),
    "low_pressure": N_("Low bleed pressure"),
    "hpv_fault": N_("High-pressure valve fault"),
    "overtemperature": N_("Overtemperature"),
    "precooler_degradation": N_("Precooler degradation"),
    "sensor_fault": N_("Sensor fault"),
    "asymmetry": N_("Engine asymmetry"),
}
EVIDENCE = {
    "fault_s": N_("Bleed fault warning (s)"),
    "ovht_s": N_("Overheat warning (s)"),
    "leak_s": N_("Leak warning (s)"),
    "over_s": N_("Time above 60 psi (s)"),
    "residual_psi": N_("Pressure against expected (psi)"),
    "hpv_closed_share": N_("Share of low-N2 time with the HP valve closed"),
    "temp_residual_degc": N_("Precooler outlet against expected (°C)"),
    "shut_s": N_("Time at or above 257 °C (s)"),
    "high_s": N_("Time at or above 240 °C (s)"),
    "residual_degc": N_("Precooler outlet against expected (°C)"),
    "press_frozen_s": N_("Pressure reading frozen (s)"),
    "temp_frozen_s": N_("Temperature reading frozen (s)"),
    "press_off_psi": N_("Pressure with the engine stopped (psi)"),
    "masked_share": N_("Share of unusable samples"),
    "difference": N_("Engine 1 minus engine 2"),
    "channel": N_("Channel"),
    "trend_shift": N_("Shift from this engine's reference"),
    "ewma_z": N_("EWMA (standard deviations)"),
    "cusum": N_("CUSUM"),
    "reference": N_("Reference"),
    "flights": N_("Flights in the trend"),
}
SEVERITY = {"watch": N_("Watch"), "alert": N_("Alert"), "normal": N_("Normal")}
CHANNELS = {
    "press_res_ip": N_("Regulated pressure against expected (psi)"),
    "press_res_hp": N_("Pressure at low N2 against expected (psi)"),
    "temp_res_hi": N_("Precooler outlet at high demand against expected (°C)"),
    "temp_res_lo": N_("Precooler outlet at low demand against expected (°C)"),
    "asym_press": N_("Pressure difference between the engines (psi)"),
    "asym_temp": N_("Precooler outlet difference between the engines (°C)"),
    "press_off": N_("Pressure with the engine stopped (psi)"),
    "score": N_("Integrity score"),
}
SERIES = {"value": N_("Value"), "ewma": N_("EWMA"), "upper": N_("Upper limit"),
          "lower": N_("Lower limit"), "cusum": N_("CUSUM (σ)")}
# Why an engine's trend reference restarted (fleet.schemas.Component, or a refit).
RESETS = {
    "engine": N_("Engine replaced"),
    "bleed-valve": N_("Bleed valve replaced"),
    "hp-valve": N_("High-pressure valve replaced"),
    "precooler": N_("Precooler replaced"),
    "bleed-sensor": N_("Bleed sensor replaced"),
    "refit": N_("References refitted"),
}
INVOICE_STATUS = {"open": N_("Open"), "paid": N_("Paid"), "void": N_("Void")}
SORTS = {"-created_at": N_("Newest first"), "created_at": N_("Oldest first"),
         "price": N_("Lowest price first"), "-price": N_("Highest price first")}
