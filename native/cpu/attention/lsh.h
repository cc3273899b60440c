// Reformer attention on the CPU, fp32, with the semantics of Hugging Face's Reformer (transformers 4.41
// LSHSelfAttention and LocalSelfAttention), both as one chunked-attention kernel over a permutation of the
// positions:
//
//   LSH (shared query-key): per (batch, head) and hash round r, bucket(i) = argmax([x_i R_r, -x_i R_r]) with
//   the round's random rotations R_r [D, nb/2] (factorised bucket counts: one argmax per factor, combined as
//   b0 + f0·b1 + f0·f1·b2 ...); when any position of the batch is padding, an extra bucket nb holds the padded
//   positions (of every row) and the bucket count becomes nb + 1; round r's buckets are offset by r·count.
//   Positions are sorted by (offset bucket, position) across the R·N slots of all rounds (a counting sort; a
//   comparison sort when the buckets outnumber the positions),
//   the sorted slots are cut into chunks of C, and each chunk attends to itself and to its neighbours
//   c − before .. c + after across the whole R·N sequence (wrapping around: chunk 0 looks back at the last
//   chunk of the last round; an offset of a whole number of chunks or more is no shift, as torch.cat of
//   slices gives). Queries are the raw vectors, keys are length-normalised, x / sqrt(mean(x²) + 1e-6), and
//   divided by sqrt(D); no other scale. Scores of padded keys and (causal) later keys become −1e9, then the
//   scores of a query's own position (in any round) −1e5. Each row's softmax is finished as upstream's
//   float32 logsumexp: lse = fl(m + log l), out = acc·e^(m − lse) (so an all-masked local row sums its values).
//   Rounds are combined as exp(lse_r − logsumexp_r lse_r) weights, in float32, by the items of the last round
//   (lsh_combine_rounds), once the items of the earlier rounds have written theirs.
//   N ≤ C: standard attention (one chunk of all N positions, no hashing, no rounds), as upstream.
//   Local: identity order, one round, keys divided by sqrt(D), no self mask.
//
// Work: hashing per (batch, head, block of rows) (the rotations through lsh_rotate_f32: no packing), sorting per (batch, head, round), gathering the rows in slot
// order (a group of heads at a time; one head past 8 MiB of copies in segments of 4096 slots, each followed by
// the items it completes, so that they read rows still in cache, and kept in a ring of the last few segments'
// chunks plus the first `after` and last `before` chunks when the neighbourhoods allow it), then one item per (batch, head, chunk of the R·N slots, tile of kLshBq
// queries of the chunk): first those of rounds 0 .. R − 2, then those of the last round, which also combine
// the rounds of their queries' positions: every output element is computed by one thread in an order fixed by
// the shapes, so results are bitwise independent of the thread count. Memory beyond the output: (R − 2)·N·D
// floats of round outputs (none for 1 or 2 rounds), the gathered rows (8 MiB, or one head's 2·R·N·D floats
// when more, or in ring mode (segments + 2·(before + after)) chunks of rows: about 2 MiB for chunks of 64), and a few ints and floats per (batch, head, round, position); nothing N × N. The large blocks are
// kept for the next call (a small cache, lsh.cc), so that repeated calls do not fault fresh pages in; an output
// of 8 MiB or more is prefaulted in one madvise(MADV_POPULATE_WRITE) call where Linux has it.
#pragma once
#include <cstdint>
#include <vector>

namespace tf {

constexpr int64_t kLshBq = 64;  // queries per tile (a chunk of 64 is one tile)
constexpr int64_t kLshBk = 64;  // key slots per step of the online softmax

// Floats of per-thread scratch of one item for head dim d.
inline int64_t lsh_scratch_floats(int64_t d) { return kLshBk * kLshBq + 2 * kLshBk * d + 2 * d * kLshBq + 3 * kLshBq + d; }

struct ChunkAttnParams {
  const float* q = nullptr;  // [B, H, N, D] queries (LSH: the shared query-key vectors)
  const float* k = nullptr;  // [B, H, N, D] keys (LSH: == q)
  const float* v = nullptr;  // [B, H, N, D]
  float* out = nullptr;      // [B, H, N, D]: the output of round 0, then (last round) the combined output
  float* round_out = nullptr;  // [B, H, R − 2, N, D]: the outputs of rounds 1 .. R − 2 (rounds > 2)
  float* round_lse = nullptr;  // [B, H, R, N] per-round logsumexp of rounds 0 .. R − 2 (rounds > 1)
  const float* key_factor = nullptr;  // [B, H, N] factor of each key row, or null: key_scale for all
  float key_scale = 1.0f;
  const int32_t* perm = nullptr;  // [B, H, R·N] position of each sorted slot, or null: identity (R == 1)
  // Sorted mode (LSH): the rows of heads bh0 .. bh0 + nbh − 1 gathered in slot order beforehand, so that the
  // items read contiguous chunks instead of rows scattered by the hash: sq [nbh, R·N, D] (queries = keys), sv
  // (values) and skf [nbh, R·N] (key factors). Items cover only those heads. nbh = 0: all B·H heads, unsorted.
  const float* sq = nullptr;
  const float* sv = nullptr;
  const float* skf = nullptr;
  int64_t bh0 = 0, nbh = 0;
  // Ring mode (one head, nbh = 1, ring_chunks > 0): the sorted rows are not all kept, only a window of them.
  // Chunk cc of the head sits at rows (chunk row) of sq / sv / skf: cc < head_chunks -> cc (the first chunks,
  // for the wrap-around of the last ones), cc >= tail_chunk -> head_chunks + cc - tail_chunk (the last chunks,
  // for the wrap-around of the first ones), else head_chunks + (nch - tail_chunk) + cc % ring_chunks.
  int64_t ring_chunks = 0, head_chunks = 0, tail_chunk = 0;
  const uint8_t* keep = nullptr;  // [B, N] nonzero = attend, or null
  int64_t B = 0, H = 0, N = 0, D = 0;
  int64_t rounds = 1, chunk = 1, before = 0, after = 0;
  // Items cover chunks c0 .. c0 + cn − 1 of each head (cn = 0: all R·N / chunk of them)
  int64_t c0 = 0, cn = 0;
  bool causal = false, self_mask = false;
};

// Row (of sq / sv / skf, in sorted mode) of the first slot of chunk cc of a head.
inline int64_t lsh_chunk_row(const ChunkAttnParams& p, int64_t cc, int64_t nch) {
  if (!p.ring_chunks) return cc * p.chunk;
  if (cc < p.head_chunks) return cc * p.chunk;
  if (cc >= p.tail_chunk) return (p.head_chunks + cc - p.tail_chunk) * p.chunk;
  return (p.head_chunks + (nch - p.tail_chunk) + cc % p.ring_chunks) * p.chunk;
}

// Chunks per head that the items cover.
inline int64_t lsh_item_chunks(const ChunkAttnParams& p) { return p.cn ? p.cn : p.rounds * p.N / p.chunk; }

inline int64_t lsh_items(const ChunkAttnParams& p) {
  const int64_t tiles = (p.chunk + kLshBq - 1) / kLshBq;
  return (p.nbh ? p.nbh : p.B * p.H) * lsh_item_chunks(p) * tiles;
}

// Last round of the query at position pos of head bh (rounds > 1): out[bh, pos] = Σ_r e^(lse_r − logsumexp_r
// lse_r) · o_r in float32 as upstream, where o_0 is out[bh, pos] (round 0's output), o_1 .. o_(R−2) are in
// round_out, lse_0 .. lse_(R−2) in round_lse, and o_(R−1) = last [D], lse_(R−1) = last_lse. Defined in lsh.cc,
// built for the baseline ISA whatever level calls it (no contracted multiply-adds: the same bits everywhere).
void lsh_combine_rounds(const ChunkAttnParams& p, int64_t bh, int64_t pos, const float* last, float last_lse);

namespace cpu {

struct LshParams {
  const float* qk = nullptr;         // [B, H, N, D]
  const float* v = nullptr;          // [B, H, N, D]
  const float* rotations = nullptr;  // [H, D, R, rs/2] (null when every factor is 1)
  float* out = nullptr;              // [B, H, N, D]
  int32_t* buckets = nullptr;        // [B, H, R, N] offset buckets (output), or null
  const uint8_t* keep = nullptr;     // [B, N], or null
  int64_t B = 0, H = 0, N = 0, D = 0;
  int64_t hashes = 1, chunk = 64, before = 1, after = 0;
  std::vector<int64_t> factors;  // bucket factors (even, or the single factor 1), product = bucket count
  bool causal = false;
};

// Whether the arguments take the standard (unchunked, unhashed) path: N <= chunk.
inline bool lsh_is_standard(int64_t N, int64_t chunk) { return N <= chunk; }

// The whole LSH attention on the pool. Arguments are not checked here (the N-API layer does that):
// N % chunk == 0 unless N <= chunk, 1 <= D <= 256.
void lsh_attention_f32(const LshParams& p);

struct LocalParams {
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  float* out = nullptr;
  const uint8_t* keep = nullptr;
  int64_t B = 0, H = 0, N = 0, D = 0;
  int64_t chunk = 64, before = 1, after = 0;
  bool causal = false;
};

// Local chunked attention (LocalSelfAttention) on the pool; the same requirements.
void local_attention_f32(const LocalParams& p);

}  // namespace cpu
}  // namespace tf
