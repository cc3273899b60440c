// Peer for side-by-side benchmarks: onnxruntime-node running ONNX graphs built here in code.
// A minimal protobuf writer for the few ONNX messages a one-op graph needs (ModelProto, GraphProto,
// NodeProto, TensorProto, ValueInfoProto, AttributeProto), so the benchmarks need no Python.
// Weights go in as graph initializers, which lets onnxruntime prepack them (its fast path).

/** ONNX TensorProto.DataType codes. */
export const DT = { float: 1, uint8: 2, int8: 3, int32: 6, int64: 7, float16: 10 };

class Writer {
  constructor() {
    this.parts = [];
    this.length = 0;
  }
  bytes(b) {
    this.parts.push(b);
    this.length += b.length;
  }
  varint(v) {
    let n = BigInt.asUintN(64, BigInt(v));
    const out = [];
    do {
      let byte = Number(n & 0x7fn);
      n >>= 7n;
      if (n) byte |= 0x80;
      out.push(byte);
    } while (n);
    this.bytes(Uint8Array.from(out));
  }
  key(field, wire) {
    this.varint((field << 3) | wire);
  }
  int(field, v) {
    this.key(field, 0);
    this.varint(v);
  }
  float(field, v) {
    this.key(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.bytes(b);
  }
  blob(field, b) {
    this.key(field, 2);
    this.varint(b.length);
    this.bytes(b);
  }
  string(field, s) {
    this.blob(field, new TextEncoder().encode(s));
  }
  message(field, fill) {
    const w = new Writer();
    fill(w);
    this.blob(field, w.finish());
  }
  finish() {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

function tensorProto(w, { name, dataType, dims, data }) {
  for (const d of dims) w.int(1, d);
  w.int(2, dataType);
  w.string(8, name);
  w.blob(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

function valueInfo(w, { name, elemType, shape }) {
  w.string(1, name);
  w.message(2, (t) =>
    t.message(1, (tt) => {
      tt.int(1, elemType);
      tt.message(2, (s) => {
        for (const d of shape) s.message(1, (dim) => (typeof d === 'string' ? dim.string(2, d) : dim.int(1, d)));
      });
    }),
  );
}

function attribute(w, name, value) {
  w.string(1, name);
  if (typeof value === 'number' && Number.isInteger(value)) {
    w.int(3, value);
    w.int(20, 2); // INT
  } else if (typeof value === 'number') {
    w.float(2, value);
    w.int(20, 1); // FLOAT
  } else if (typeof value === 'string') {
    w.string(4, value);
    w.int(20, 3); // STRING
  } else {
    throw new TypeError(`unsupported attribute ${name}`);
  }
}

/**
 * Serializes a single-graph ONNX model.
 * @param {{nodes: {op: string, domain?: string, inputs: string[], outputs: string[], attrs?: Record<string, number|string>}[],
 *          inputs: {name: string, elemType: number, shape: (number|string)[]}[],
 *          outputs: {name: string, elemType: number, shape: (number|string)[]}[],
 *          initializers?: {name: string, dataType: number, dims: number[], data: ArrayBufferView}[],
 *          opsets?: Record<string, number>}} spec
 * @returns {Uint8Array}
 */
export function buildModel(spec) {
  const w = new Writer();
  w.int(1, 8); // ir_version
  w.string(2, 'turboformer-bench');
  w.message(7, (g) => {
    spec.nodes.forEach((n, i) =>
      g.message(1, (nw) => {
        for (const x of n.inputs) nw.string(1, x);
        for (const x of n.outputs) nw.string(2, x);
        nw.string(3, `node${i}`);
        nw.string(4, n.op);
        for (const [k, v] of Object.entries(n.attrs ?? {})) nw.message(5, (a) => attribute(a, k, v));
        if (n.domain) nw.string(7, n.domain);
      }),
    );
    g.string(2, 'bench');
    for (const t of spec.initializers ?? []) g.message(5, (tw) => tensorProto(tw, t));
    for (const v of spec.inputs) g.message(11, (vw) => valueInfo(vw, v));
    for (const v of spec.outputs) g.message(12, (vw) => valueInfo(vw, v));
  });
  for (const [domain, version] of Object.entries(spec.opsets ?? { '': 17 })) {
    w.message(8, (o) => {
      if (domain) o.string(1, domain);
      o.int(2, version);
    });
  }
  return w.finish();
}

/** Loads onnxruntime-node, or returns null (with the reason) when it is not installed. */
export async function loadOrt() {
  try {
    const mod = await import('onnxruntime-node');
    return { ort: mod.default ?? mod, reason: '' };
  } catch (e) {
    return { ort: null, reason: `onnxruntime-node is not available (${e.message.split('\n')[0]})` };
  }
}

/**
 * An InferenceSession over `bytes` with a fixed thread count and every graph optimization on. Its pool
 * does not spin between runs, so it does not steal the CPU from the cases measured after it.
 */
export async function session(ort, bytes, threads) {
  return ort.InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
}

/** C = A · B with B [K, N] as an initializer; input A [M, K]. */
export function matmulModel(M, K, N, b) {
  return buildModel({
    nodes: [{ op: 'MatMul', inputs: ['A', 'B'], outputs: ['C'] }],
    inputs: [{ name: 'A', elemType: DT.float, shape: [M, K] }],
    outputs: [{ name: 'C', elemType: DT.float, shape: [M, N] }],
    initializers: [{ name: 'B', dataType: DT.float, dims: [K, N], data: b }],
  });
}

/** com.microsoft MultiHeadAttention over q, k, v [1, N, H·D] (our 'bnhd' layout); causal: `unidirectional`. */
export function mhaModel(N, H, D, causal) {
  const io = (name) => ({ name, elemType: DT.float, shape: [1, N, H * D] });
  return buildModel({
    nodes: [{ op: 'MultiHeadAttention', domain: 'com.microsoft', inputs: ['q', 'k', 'v'], outputs: ['o'], attrs: { num_heads: H, unidirectional: causal ? 1 : 0 } }],
    inputs: [io('q'), io('k'), io('v')],
    outputs: [io('o')],
    opsets: { '': 17, 'com.microsoft': 1 },
  });
}
