package main

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi"
)

// parseDigits reads 1..maxLen ASCII digits as a value in [min, max]
// (leading zeros allowed); ok false otherwise.
func parseDigits(s string, maxLen int, min, max int64) (int64, bool) {
	if len(s) == 0 || len(s) > maxLen {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if v > (max-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	if v < min {
		return 0, false
	}
	return v, true
}

const maxInt64 = 1<<63 - 1

// pathID is the :id parameter, percent-decoded: 1 to 19 digits, 1 … 2^63−1.
// It answers the 400 itself when the id is bad.
func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	raw := chi.URLParam(r, "id")
	if dec, err := url.PathUnescape(raw); err == nil {
		raw = dec
	} else {
		raw = ""
	}
	id, ok := parseDigits(raw, 19, 1, maxInt64)
	if !ok {
		writeError(w, http.StatusBadRequest, codeValidation, "params/id must be a positive 64-bit integer")
		return 0, false
	}
	return id, true
}

// queryParam is the first occurrence of key in the query string,
// percent-decoded with '+' as a space. bad is true when the value's
// percent-encoding is broken.
func queryParam(r *http.Request, key string) (val string, present, bad bool) {
	q := r.URL.RawQuery
	for q != "" {
		var part string
		if i := strings.IndexByte(q, '&'); i >= 0 {
			part, q = q[:i], q[i+1:]
		} else {
			part, q = q, ""
		}
		if part == "" {
			continue
		}
		k, v := part, ""
		if i := strings.IndexByte(part, '='); i >= 0 {
			k, v = part[:i], part[i+1:]
		}
		dk, err := url.QueryUnescape(k)
		if err != nil || dk != key {
			continue
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			return v, true, true
		}
		return dv, true, false
	}
	return "", false, false
}
