'use strict'

// The piscina task of POST /transform in pool mode: the same transform as
// the main thread's. The body arrives as a Uint8Array (structured clone).
const { transform } = require('./transform')

module.exports = function run (body) {
  return transform(Buffer.from(body.buffer, body.byteOffset, body.byteLength))
}
