// The bulk of the tracks as one WebGL layer: a point per track (a filled disc for the node's
// own tracks, a ring for the coalition picture), a heading leader (one minute ahead) and, for
// threats and the selected track, a short trail. Tracks live in typed arrays indexed by slot; a delta only rewrites its slots
// and the buffers are uploaded once per frame that follows a change.

const TRAIL = 6; // positions kept per track
const LEADER_S = 60; // leader length: where the track will be in this many seconds
const EARTH_M = 40075016.686; // equatorial circumference, m

export const COLORS = {
  hostile: [255, 48, 48],
  suspect: [255, 144, 48],
  unknown: [255, 233, 74],
  friend: [96, 200, 255],
  neutral: [125, 220, 125],
};

export function mercator(lon, lat) {
  const x = (lon + 180) / 360;
  const s = Math.sin((lat * Math.PI) / 180);
  const y = 0.5 - (0.25 * Math.log((1 + s) / (1 - s))) / Math.PI;
  return [x, y];
}

const POINT_VS = `#version 300 es
uniform mat4 u_matrix; uniform float u_size;
in vec2 a_pos; in vec4 a_color; in float a_kind;
out vec4 v_color; out float v_kind;
void main() {
  gl_Position = u_matrix * vec4(a_pos, 0.0, 1.0);
  gl_PointSize = u_size * (a_kind > 1.5 ? 1.6 : 1.0);
  v_color = a_color; v_kind = a_kind;
}`;
const POINT_FS = `#version 300 es
precision mediump float;
in vec4 v_color; in float v_kind; out vec4 frag;
void main() {
  float r = length(gl_PointCoord - 0.5) * 2.0;
  if (r > 1.0) discard;
  float a = smoothstep(1.0, 0.85, r) * v_color.a;
  vec3 c = v_color.rgb;
  if (v_kind > 0.5 && v_kind < 1.5) { if (r < 0.55) discard; }  // coalition picture: a ring
  else if (r > 0.78) c = vec3(0.05);  // own track: a disc with a dark rim
  frag = vec4(c * a, a);
}`;
const LINE_VS = `#version 300 es
uniform mat4 u_matrix;
in vec2 a_pos; in vec4 a_color; out vec4 v_color;
void main() { gl_Position = u_matrix * vec4(a_pos, 0.0, 1.0); v_color = a_color; }`;
const LINE_FS = `#version 300 es
precision mediump float;
in vec4 v_color; out vec4 frag;
void main() { frag = vec4(v_color.rgb * v_color.a, v_color.a); }`;

function program(gl, vs, fs) {
  const p = gl.createProgram();
  for (const [type, src] of [[gl.VERTEX_SHADER, vs], [gl.FRAGMENT_SHADER, fs]]) {
    const s = gl.createShader(type);
    gl.shaderSource(s, src);
    gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
    gl.attachShader(p, s);
  }
  gl.linkProgram(p);
  if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(p));
  return p;
}

export class TrackLayer {
  constructor() {
    this.id = "tracks";
    this.type = "custom";
    this.renderingMode = "2d";
    this.n = 0;
    this.cap = 0;
    this.index = new Map(); // key -> slot
    this.keys = [];
    this.rows = []; // slot -> row object (for the details panel and hit tests)
    this.selected = null;
    this.hidden = new Set(); // "own" / "picture": layers switched off
    this.dirty = true;
    this.grow(1024);
  }

  grow(cap) {
    const old = this;
    const pos = new Float32Array(cap * 2), col = new Uint8Array(cap * 4), kind = new Float32Array(cap);
    const lead = new Float32Array(cap * 4), trail = new Float32Array(cap * TRAIL * 2), tlen = new Uint8Array(cap);
    if (this.cap) {
      pos.set(old.pos); col.set(old.col); kind.set(old.kind); lead.set(old.lead); trail.set(old.trail); tlen.set(old.tlen);
    }
    Object.assign(this, { pos, col, kind, lead, trail, tlen, cap });
  }

  clear() {
    this.n = 0;
    this.index.clear();
    this.keys = [];
    this.rows = [];
    this.dirty = true;
  }

  upsert(r) {
    let s = this.index.get(r.key);
    const fresh = s === undefined;
    if (fresh) {
      if (this.n === this.cap) this.grow(this.cap * 2);
      s = this.n++;
      this.index.set(r.key, s);
      this.keys[s] = r.key;
      this.tlen[s] = 0;
    }
    this.rows[s] = r;
    const [x, y] = mercator(r.lon, r.lat);
    const px = this.pos[2 * s], py = this.pos[2 * s + 1];
    if (!fresh && (px !== x || py !== y)) {
      // shift the trail and push the previous position
      const t = this.trail, b = s * TRAIL * 2;
      t.copyWithin(b + 2, b, b + (TRAIL - 1) * 2);
      t[b] = px; t[b + 1] = py;
      this.tlen[s] = Math.min(TRAIL, this.tlen[s] + 1);
    }
    this.pos[2 * s] = x; this.pos[2 * s + 1] = y;
    const c = COLORS[r.aff] || COLORS.unknown;
    this.col.set([c[0], c[1], c[2], 255], 4 * s);
    this.kind[s] = r.layer === "picture" ? 1 : 0;
    const k = 1 / (EARTH_M * Math.cos((r.lat * Math.PI) / 180));
    const a = (r.crs * Math.PI) / 180, d = r.spd * LEADER_S * k;
    this.lead.set([x, y, x + Math.sin(a) * d, y - Math.cos(a) * d], 4 * s);
    this.dirty = true;
  }

  remove(key) {
    const s = this.index.get(key);
    if (s === undefined) return;
    const last = --this.n;
    this.index.delete(key);
    if (s !== last) {
      const lk = this.keys[last];
      this.keys[s] = lk; this.rows[s] = this.rows[last]; this.index.set(lk, s);
      this.pos.copyWithin(2 * s, 2 * last, 2 * last + 2);
      this.col.copyWithin(4 * s, 4 * last, 4 * last + 4);
      this.kind[s] = this.kind[last];
      this.lead.copyWithin(4 * s, 4 * last, 4 * last + 4);
      this.trail.copyWithin(s * TRAIL * 2, last * TRAIL * 2, (last + 1) * TRAIL * 2);
      this.tlen[s] = this.tlen[last];
    }
    this.keys.length = this.n; this.rows.length = this.n;
    this.dirty = true;
  }

  get(key) {
    const s = this.index.get(key);
    return s === undefined ? null : this.rows[s];
  }

  onAdd(map, gl) {
    this.map = map;
    this.pointProg = program(gl, POINT_VS, POINT_FS);
    this.lineProg = program(gl, LINE_VS, LINE_FS);
    this.buf = { pos: gl.createBuffer(), col: gl.createBuffer(), kind: gl.createBuffer(), lines: gl.createBuffer(), lcol: gl.createBuffer() };
    this.lineCount = 0;
  }

  upload(gl) {
    const n = this.n, hide = this.hidden;
    // lines: leaders (2 vertices per track) then trail segments
    const maxV = n * 2 + n * (TRAIL) * 2;
    if (!this.lv || this.lv.length < maxV * 2) { this.lv = new Float32Array(maxV * 2); this.lc = new Uint8Array(maxV * 4); }
    const lv = this.lv, lc = this.lc;
    let v = 0;
    for (let s = 0; s < n; s++) {
      const layer = this.kind[s] === 1 ? "picture" : "own";
      if (hide.has(layer)) { this.col[4 * s + 3] = 0; continue; }
      this.col[4 * s + 3] = 255;
      const r = this.col[4 * s], g = this.col[4 * s + 1], b = this.col[4 * s + 2];
      lv[2 * v] = this.lead[4 * s]; lv[2 * v + 1] = this.lead[4 * s + 1]; lc.set([r, g, b, 230], 4 * v); v++;
      lv[2 * v] = this.lead[4 * s + 2]; lv[2 * v + 1] = this.lead[4 * s + 3]; lc.set([r, g, b, 230], 4 * v); v++;
      // trails only for threats and the selected track: the bulk keeps its leader alone
      const row = this.rows[s];
      const trail = row.aff === "hostile" || row.aff === "suspect" || row.key === this.selected ? this.tlen[s] : 0;
      let px = this.pos[2 * s], py = this.pos[2 * s + 1];
      const t = this.trail, base = s * TRAIL * 2;
      for (let i = 0; i < trail; i++) {
        const a = Math.round(150 * (1 - i / TRAIL));
        lv[2 * v] = px; lv[2 * v + 1] = py; lc.set([r, g, b, a], 4 * v); v++;
        px = t[base + 2 * i]; py = t[base + 2 * i + 1];
        lv[2 * v] = px; lv[2 * v + 1] = py; lc.set([r, g, b, a], 4 * v); v++;
      }
    }
    this.lineCount = v;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buf.lines);
    gl.bufferData(gl.ARRAY_BUFFER, lv.subarray(0, 2 * v), gl.DYNAMIC_DRAW);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buf.lcol);
    gl.bufferData(gl.ARRAY_BUFFER, lc.subarray(0, 4 * v), gl.DYNAMIC_DRAW);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buf.pos);
    gl.bufferData(gl.ARRAY_BUFFER, this.pos.subarray(0, 2 * n), gl.DYNAMIC_DRAW);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buf.col);
    gl.bufferData(gl.ARRAY_BUFFER, this.col.subarray(0, 4 * n), gl.DYNAMIC_DRAW);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buf.kind);
    gl.bufferData(gl.ARRAY_BUFFER, this.kind.subarray(0, n), gl.DYNAMIC_DRAW);
    this.dirty = false;
  }

  attrib(gl, prog, name, buf, size, type, norm) {
    const loc = gl.getAttribLocation(prog, name);
    if (loc < 0) return;
    gl.bindBuffer(gl.ARRAY_BUFFER, buf);
    gl.enableVertexAttribArray(loc);
    gl.vertexAttribPointer(loc, size, type, norm, 0, 0);
  }

  render(gl, opts) {
    if (this.dirty) this.upload(gl);
    const m = opts.defaultProjectionData ? opts.defaultProjectionData.mainMatrix : opts.modelViewProjectionMatrix;
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
    if (this.lineCount) {
      gl.useProgram(this.lineProg);
      gl.uniformMatrix4fv(gl.getUniformLocation(this.lineProg, "u_matrix"), false, m);
      this.attrib(gl, this.lineProg, "a_pos", this.buf.lines, 2, gl.FLOAT, false);
      this.attrib(gl, this.lineProg, "a_color", this.buf.lcol, 4, gl.UNSIGNED_BYTE, true);
      gl.drawArrays(gl.LINES, 0, this.lineCount);
    }
    if (this.n) {
      gl.useProgram(this.pointProg);
      gl.uniformMatrix4fv(gl.getUniformLocation(this.pointProg, "u_matrix"), false, m);
      gl.uniform1f(gl.getUniformLocation(this.pointProg, "u_size"), 9 * (window.devicePixelRatio || 1));
      this.attrib(gl, this.pointProg, "a_pos", this.buf.pos, 2, gl.FLOAT, false);
      this.attrib(gl, this.pointProg, "a_color", this.buf.col, 4, gl.UNSIGNED_BYTE, true);
      this.attrib(gl, this.pointProg, "a_kind", this.buf.kind, 1, gl.FLOAT, false);
      gl.drawArrays(gl.POINTS, 0, this.n);
    }
    for (const name of ["a_pos", "a_color", "a_kind"]) {
      for (const p of [this.lineProg, this.pointProg]) {
        const loc = gl.getAttribLocation(p, name);
        if (loc >= 0) gl.disableVertexAttribArray(loc);
      }
    }
  }

  // the nearest visible track within `px` pixels of the screen point, or null
  pick(point, px = 12) {
    let best = null, bd = px * px;
    for (let s = 0; s < this.n; s++) {
      if (this.col[4 * s + 3] === 0) continue;
      const r = this.rows[s];
      const p = this.map.project([r.lon, r.lat]);
      const d = (p.x - point.x) ** 2 + (p.y - point.y) ** 2;
      if (d < bd) { bd = d; best = r; }
    }
    return best;
  }
}
