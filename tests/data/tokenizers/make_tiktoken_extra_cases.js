// Generates tiktoken_extra_cases.jsonl: strings that probe the split patterns'
// whitespace set and case folding, with the ids the npm package `tiktoken`
// (WASM build of OpenAI's Rust core) gives under gpt2, cl100k_base and o200k_base.
// Run: npm install --prefix build/bench-node tiktoken@1.0.22 &&
//      NODE_PATH=build/bench-node/node_modules node tests/data/tokenizers/make_tiktoken_extra_cases.js
const { get_encoding } = require('tiktoken');
const cases = [
  "a\u0085\u0085b", "a\ufeffb", "x \u180e y", "x'\u017f", "HE'\u017f it'S", "a\n\nb", "  \u0085 \u2028x",
  "K'K \u212a'd", "a\u00a0\u00a0b", "tab\t\t\tthen\u000b\u000cff", "\r\n\r\n  \r\n x", "          ten spaces",
  "x\u3000\u3000y\u2029z", "\u1680ogham\u2000\u200a\u202f\u205f.", "123456789012 ١٢٣٤٥ ½ ²", "e\u0301\u0301\u0301",
  "DON'T Don'T dOn'T", "((()))[[]]{{}}", "a/b/c//d\n/\n", "\u00e9\u00c9\u0130i\u0131I", "trailing\n\n\n   ",
];
const encs = ['gpt2', 'cl100k_base', 'o200k_base'].map(n => [n, get_encoding(n)]);
for (const text of cases) {
  const o = { text };
  for (const [n, e] of encs) o[n] = Array.from(e.encode_ordinary(text));
  console.log(JSON.stringify(o));
}
