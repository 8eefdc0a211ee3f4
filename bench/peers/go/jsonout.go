package main

import (
	"net/http"
	"strconv"
	"time"
)

// JSON output written by hand, byte for byte what JSON.stringify produces
// (encoding/json escapes <, >, & and U+2028/U+2029, which JSON.stringify does
// not).

const jsonType = "application/json; charset=utf-8"

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string: `"` and `\` escaped, the short
// escapes for \b \f \n \r \t, other control characters as \u00xx; everything
// else (non-ASCII, U+007F, U+2028/2029, `/`) raw. s is valid UTF-8 here (the
// database's text, or input already checked).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendInt(b []byte, v int64) []byte { return strconv.AppendInt(b, v, 10) }

// appendTime appends t as Date#toISOString does: UTC, milliseconds truncated.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	return append(b, '"')
}

// appendMonth appends a date as "YYYY-MM".
func appendMonth(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, "2006-01")
	return append(b, '"')
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", jsonType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// Fastify's reason phrases (net/http's differ for 413).
func reason(status int) string {
	switch status {
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 413:
		return "Payload Too Large"
	case 415:
		return "Unsupported Media Type"
	case 500:
		return "Internal Server Error"
	case 503:
		return "Service Unavailable"
	}
	return http.StatusText(status)
}

// Fastify's error codes (docs/workloads.md, "Error bodies").
const (
	codeValidation = "FST_ERR_VALIDATION"
	codeMediaType  = "FST_ERR_CTP_INVALID_MEDIA_TYPE"
	codeEmptyBody  = "FST_ERR_CTP_EMPTY_JSON_BODY"
	codeTooLarge   = "FST_ERR_CTP_BODY_TOO_LARGE"
)

// writeError answers Fastify's error shape
// {"statusCode":N,"code":"…","error":"…","message":"…"}, code omitted when "".
func writeError(w http.ResponseWriter, status int, code, msg string) {
	b := make([]byte, 0, 96+len(msg))
	b = append(b, `{"statusCode":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	if code != "" {
		b = append(b, `,"code":`...)
		b = appendString(b, code)
	}
	b = append(b, `,"error":`...)
	b = appendString(b, reason(status))
	b = append(b, `,"message":`...)
	b = appendString(b, msg)
	b = append(b, '}')
	writeJSON(w, status, b)
}

// writeUnavailable: the database cannot answer (or the server drains).
func writeUnavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusServiceUnavailable, "", msg)
}
