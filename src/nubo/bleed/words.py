"""Findings in words, in English and Portuguese, as a maintenance engineer would write them:
what, which engine, how far from what, in which phase, since when.

Each finding carries `message` (English, the spec field) and `message_pt`; the panel picks
one by the reader's language.
"""

from __future__ import annotations

from dataclasses import dataclass

# Where each residual channel is measured, i.e. the phases a reader should look at.
WHERE = {
    "press_res_ip": ("in climb and cruise (IP stage)", "em subida e cruzeiro (estágio IP)"),
    "press_res_hp": (
        "at low thrust with the HP valve open (taxi, descent, approach)",
        "em baixa tração com a válvula HP aberta (táxi, descida, aproximação)",
    ),
    "temp_res_hi": ("at high demand (climb and cruise)", "em alta demanda (subida e cruzeiro)"),
    "temp_res_lo": ("at low demand (taxi and descent)", "em baixa demanda (táxi e descida)"),
    "press_off": ("with the engine stopped", "com o motor parado"),
    "asym_press": ("at matched N2", "com N2 equivalente"),
    "asym_temp": ("at matched N2", "com N2 equivalente"),
    "score": ("over the flight", "no voo"),
}
WHAT = {
    "press_res_ip": ("bleed pressure", "pressão de sangria"),
    "press_res_hp": ("bleed pressure", "pressão de sangria"),
    "temp_res_hi": ("precooler outlet temperature", "temperatura de saída do pré-resfriador"),
    "temp_res_lo": ("precooler outlet temperature", "temperatura de saída do pré-resfriador"),
    "press_off": ("bleed pressure reading", "leitura de pressão de sangria"),
    "asym_press": ("bleed pressure", "pressão de sangria"),
    "asym_temp": ("precooler outlet temperature", "temperatura de saída do pré-resfriador"),
    "score": ("integrity score", "índice de integridade"),
}
UNIT = {"press": "psi", "temp": "°C", "asym_press": "psi", "asym_temp": "°C", "score": "pts"}


def unit(channel: str) -> str:
    if channel in UNIT:
        return UNIT[channel]
    return "°C" if channel.startswith("temp") else "psi"


@dataclass(frozen=True)
class Text:
    en: str
    pt: str


def engine(e: int | None) -> Text:
    return Text("Aircraft", "Aeronave") if e is None else Text(f"Engine {e}", f"Motor {e}")


def since(flights: int | None) -> Text:
    if not flights or flights <= 1:
        return Text("on this flight", "neste voo")
    return Text(f"over the last {flights} flights", f"nos últimos {flights} voos")


def deviation(
    e: int | None, channel: str, amount: float, against: Text, flights: int | None = None
) -> Text:
    """'Engine 1: bleed pressure 3.2 psi above this engine's normal in climb and cruise
    (IP stage), over the last 4 flights.'"""
    who = engine(e)
    what, what_pt = WHAT[channel]
    where, where_pt = WHERE[channel]
    when = since(flights)
    u = unit(channel)
    up = amount >= 0
    en = f"{abs(amount):.1f} {u} {'above' if up else 'below'} {against.en}"
    pt = f"{abs(amount):.1f} {u} {'acima' if up else 'abaixo'} {against.pt}"
    return Text(
        f"{who.en}: {what} {en} {where}, {when.en}.",
        f"{who.pt}: {what_pt} {pt} {where_pt}, {when.pt}.",
    )


EXPECTED = Text("expected for the conditions", "do esperado para as condições")
OWN_NORMAL = Text("this engine's normal", "do normal deste motor")
OTHER_ENGINE = Text("the other engine", "do outro motor")
