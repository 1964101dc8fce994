// Vehicle icons: one arrow per status colour, drawn once on a canvas and added
// to the map as images. The arrow points north; the symbol layer turns it by
// the vehicle's heading (icon-rotate, aligned with the map).
import { STATUSES, statusColor } from '../vehicles/status.js';

export const ICON_SIZE = 28;

export function iconName(status) {
  return `vehicle-${status}`;
}

export function drawArrow(ctx, size, color) {
  const s = size;
  ctx.clearRect(0, 0, s, s);
  ctx.save();
  ctx.translate(s / 2, s / 2);
  // Round body so the vehicle reads as a dot when icons are small.
  ctx.beginPath();
  ctx.arc(0, 0, s * 0.3, 0, Math.PI * 2);
  ctx.fillStyle = color;
  ctx.fill();
  ctx.lineWidth = s * 0.07;
  ctx.strokeStyle = '#ffffff';
  ctx.stroke();
  // Pointer: the direction of travel.
  ctx.beginPath();
  ctx.moveTo(0, -s * 0.48);
  ctx.lineTo(s * 0.2, -s * 0.22);
  ctx.lineTo(-s * 0.2, -s * 0.22);
  ctx.closePath();
  ctx.fillStyle = color;
  ctx.fill();
  ctx.stroke();
  // A white centre marks the middle when it overlaps a neighbour.
  ctx.beginPath();
  ctx.arc(0, 0, s * 0.1, 0, Math.PI * 2);
  ctx.fillStyle = '#ffffff';
  ctx.fill();
  ctx.restore();
}

/** Add (or replace) the four status icons on a map. */
export function addVehicleIcons(map, pixelRatio = globalThis.devicePixelRatio || 1) {
  const px = Math.round(ICON_SIZE * pixelRatio);
  const canvas = document.createElement('canvas');
  canvas.width = px;
  canvas.height = px;
  const ctx = canvas.getContext('2d');
  for (const status of STATUSES) {
    drawArrow(ctx, px, statusColor(status));
    const data = ctx.getImageData(0, 0, px, px);
    const name = iconName(status);
    if (map.hasImage(name)) map.removeImage(name);
    map.addImage(name, data, { pixelRatio });
  }
}
