package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
)

// Reading JSON bodies as JSON.parse does, with encoding/json underneath.
// encoding/json alone differs from JSON.parse in three ways that matter here:
// it accepts invalid UTF-8 (replacing it with U+FFFD), it accepts \u escapes
// that leave a lone surrogate (replacing them too), and it matches struct
// fields case-insensitively. So: json.Valid for the grammar, a raw scan for
// depth and lone surrogates, and objects decoded into
// map[string]json.RawMessage (exact keys, the last duplicate wins).

type object = map[string]json.RawMessage

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func hex4(b []byte) int {
	v := 0
	for _, c := range b {
		h := hexVal(c)
		if h < 0 {
			return -1
		}
		v = v<<4 | h
	}
	return v
}

// scanRaw measures the nesting depth on the raw text (valid JSON or not:
// outside a string `"` opens one, [ and { add a level, ] and } remove one;
// inside, `\` skips the next character and `"` closes it) and reports
// whether a \u escape leaves a lone surrogate.
func scanRaw(b []byte) (maxDepth int, lone bool) {
	depth := 0
	n := len(b)
	for i := 0; i < n; i++ {
		c := b[i]
		if c != '"' {
			switch c {
			case '[', '{':
				depth++
				if depth > maxDepth {
					maxDepth = depth
				}
			case ']', '}':
				depth--
			}
			continue
		}
		// A string.
		high := false // a high surrogate escape waits for its low half
		for i++; i < n; i++ {
			c = b[i]
			if c == '\\' {
				if i+5 < n && b[i+1] == 'u' {
					if cu := hex4(b[i+2 : i+6]); cu >= 0 {
						switch {
						case cu >= 0xDC00 && cu <= 0xDFFF:
							if !high {
								lone = true
							}
							high = false
						case cu >= 0xD800 && cu <= 0xDBFF:
							if high {
								lone = true
							}
							high = true
						default:
							if high {
								lone = true
							}
							high = false
						}
						i += 5
						continue
					}
				}
				if high {
					lone = true
				}
				high = false
				i++
				continue
			}
			if high {
				lone = true
				high = false
			}
			if c == '"' {
				break
			}
		}
	}
	return maxDepth, lone
}

// hasNULEscape: a \u0000 escape (not itself preceded by an escaping `\`).
func hasNULEscape(b []byte) bool {
	pat := []byte(`\u0000`)
	for off := 0; ; {
		i := bytes.Index(b[off:], pat)
		if i < 0 {
			return false
		}
		i += off
		bs := 0
		for bs < i && b[i-1-bs] == '\\' {
			bs++
		}
		if bs%2 == 0 {
			return true
		}
		off = i + 1
	}
}

func firstByte(raw []byte) byte {
	for _, c := range raw {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return c
		}
	}
	return 0
}

func isString(raw json.RawMessage) bool { return len(raw) > 0 && raw[0] == '"' }
func isNumber(raw json.RawMessage) bool {
	return len(raw) > 0 && (raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'))
}
func isNull(raw json.RawMessage) bool   { return string(raw) == "null" }
func isObject(raw json.RawMessage) bool { return len(raw) > 0 && raw[0] == '{' }
func isArray(raw json.RawMessage) bool  { return len(raw) > 0 && raw[0] == '[' }

// decodeString decodes a JSON string token (already checked by json.Valid).
func decodeString(raw json.RawMessage) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	json.Unmarshal(raw, &s)
	return s
}

// numberValue is the number as JSON.parse gives it (an IEEE double; ±Inf
// when it overflows).
func numberValue(raw json.RawMessage) float64 {
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil && !math.IsInf(f, 0) {
		return math.NaN()
	}
	return f
}

// integerIn: a JSON number whose double value is a whole number in [lo, hi].
func integerIn(raw json.RawMessage, lo, hi int64) (int64, bool) {
	if !isNumber(raw) {
		return 0, false
	}
	f := numberValue(raw)
	if math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
		return 0, false
	}
	return int64(f), true
}
