// tok_tiktoken.js: the peer for bench/tok_throughput.sh. Encodes a file with an
// OpenAI encoding in node, single-threaded, and prints one line:
//   <package> <encoding> <tokens> <best seconds> <MB/s>
// using the npm package `tiktoken` (WASM build of tiktoken's Rust core) when it is
// installed, else `js-tiktoken` (pure JavaScript). Special tokens are encoded as
// plain text (encode_ordinary), as nmoe-tok does by default. Loading the encoding
// is not timed, as nmoe-tok's figure leaves out loading its tokenizer.
// Usage: NODE_PATH=build/bench-node/node_modules node bench/tok_tiktoken.js ENCODING FILE [REPEATS]
const fs = require('fs');
const [encoding, file, repeatsArg] = process.argv.slice(2);
const repeats = Number(repeatsArg || 3);
const text = fs.readFileSync(file, 'utf8');
const bytes = Buffer.byteLength(text, 'utf8');
let pkg, encode, free = () => {};
try {
  const { get_encoding } = require('tiktoken');
  const enc = get_encoding(encoding);
  pkg = 'tiktoken';
  encode = (s) => enc.encode_ordinary(s).length;
  free = () => enc.free();
} catch (e) {
  const { getEncoding } = require('js-tiktoken');
  const enc = getEncoding(encoding);
  pkg = 'js-tiktoken';
  encode = (s) => enc.encode(s, [], []).length;
}
encode(text.slice(0, 100000)); // warm up (JIT, WASM instantiation)
let best = Infinity, tokens = 0;
for (let r = 0; r < repeats; r++) {
  const t0 = process.hrtime.bigint();
  tokens = encode(text);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (s < best) best = s;
}
free();
console.log(`${pkg} ${encoding} ${tokens} ${best.toFixed(4)} ${(bytes / 1e6 / best).toFixed(2)}`);
