// MIL-STD-2525C symbol codes for tracks, drawn by milsymbol into canvases for MapLibre.
import ms from "milsymbol";

const AFF = { hostile: "H", suspect: "S", unknown: "U", friend: "F", neutral: "N" };
const FUNCTION = {
  ballistic: "WMSS--", // surface-to-surface missile
  rocket: "WMS---", // surface-launched missile
  cruise: "WMCM--", // cruise missile
  drone: "MFQ---", // unmanned aerial vehicle
  aircraft: "CF----", // civil fixed wing
  unknown: "------",
};

export function sidc(cls, aff) {
  let fn = FUNCTION[cls] || FUNCTION.unknown;
  if (cls === "aircraft" && aff !== "neutral") fn = "------";
  return `S${AFF[aff] || "U"}AP${fn}`;
}

// an ImageData of the symbol (for map.addImage), and its anchor offset
export function symbolImage(code, size = 22) {
  const sym = new ms.Symbol(code, { size, outlineWidth: 3, outlineColor: "rgb(10,14,20)" });
  const canvas = sym.asCanvas();
  const ctx = canvas.getContext("2d");
  return { data: ctx.getImageData(0, 0, canvas.width, canvas.height), valid: sym.isValid() };
}

export function symbolSvg(code, size = 28) {
  return new ms.Symbol(code, { size }).asSVG();
}
