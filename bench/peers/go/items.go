package main

import (
	"database/sql"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgtype"
)

// W1: CRUD on /items (docs/workloads.md, "W1").

type item struct {
	ID          int64            `db:"id"`
	Name        string           `db:"name"`
	Description sql.NullString   `db:"description"`
	PriceCents  int64            `db:"price_cents"`
	Tags        pgtype.TextArray `db:"tags"`
	CreatedAt   time.Time        `db:"created_at"`
	UpdatedAt   time.Time        `db:"updated_at"`
}

func appendItem(b []byte, it *item) []byte {
	b = append(b, `{"id":`...)
	b = appendInt(b, it.ID)
	b = append(b, `,"name":`...)
	b = appendString(b, it.Name)
	b = append(b, `,"description":`...)
	if it.Description.Valid {
		b = appendString(b, it.Description.String)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"price_cents":`...)
	b = appendInt(b, it.PriceCents)
	b = append(b, `,"tags":[`...)
	for i, t := range it.Tags.Elements {
		if i > 0 {
			b = append(b, ',')
		}
		if t.Status == pgtype.Present {
			b = appendString(b, t.String)
		} else {
			b = append(b, "null"...)
		}
	}
	b = append(b, `],"created_at":`...)
	b = appendTime(b, it.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendTime(b, it.UpdatedAt)
	return append(b, '}')
}

// itemInput is a checked body: the fields present and their values.
type itemInput struct {
	hasName, hasDesc, hasPrice, hasTags bool
	name                                string
	desc                                *string // nil: null
	price                               int64
	tags                                []string
}

type inputError struct {
	status int
	code   string
	msg    string
}

func invalid(msg string) *inputError { return &inputError{400, codeValidation, msg} }

func isJSONType(ct string) bool {
	if len(ct) < 16 || !strings.EqualFold(ct[:16], "application/json") {
		return false
	}
	return len(ct) == 16 || ct[16] == ';' || ct[16] == ' ' || ct[16] == '\t'
}

func mediaTypeError(ct string) *inputError {
	if ct == "" {
		ct = "none"
	} else if len(ct) > 100 {
		ct = ct[:100]
	}
	return &inputError{415, codeMediaType, "Unsupported Media Type: " + ct}
}

const emptyJSONBody = "Body cannot be empty when content-type is set to 'application/json'"

// A W1 body deeper than this is refused as invalid JSON (as looplab does).
const itemMaxDepth = 512

// checkString: a JSON string of valid UTF-8 with min … max code points.
func checkString(raw json.RawMessage, path string, min, max int) (string, *inputError) {
	if !isString(raw) {
		return "", invalid(path + " must be string")
	}
	if !utf8.Valid(raw) {
		return "", invalid(path + " must be valid UTF-8")
	}
	s := decodeString(raw)
	n := utf8.RuneCountInString(s)
	if n < min {
		return "", invalid(path + " must NOT have fewer than " + strconv.Itoa(min) + " characters")
	}
	if n > max {
		return "", invalid(path + " must NOT have more than " + strconv.Itoa(max) + " characters")
	}
	return s, nil
}

// parseItem checks a POST/PUT (partial false) or PATCH (partial true) body
// in the order of docs/workloads.md; JSON.parse + Ajv accept and refuse the
// same bodies.
func parseItem(contentType string, body []byte, partial bool) (*itemInput, *inputError) {
	if contentType == "" && len(body) == 0 {
		return nil, invalid("body must be object")
	}
	if !isJSONType(contentType) {
		return nil, mediaTypeError(contentType)
	}
	if len(body) == 0 {
		return nil, &inputError{400, codeEmptyBody, emptyJSONBody}
	}
	if hasNULEscape(body) {
		return nil, &inputError{400, "", "body must not contain NUL characters"}
	}
	if depth, lone := scanRaw(body); depth > itemMaxDepth || lone || !json.Valid(body) {
		return nil, &inputError{400, "", "Body is not valid JSON"}
	}
	if firstByte(body) != '{' {
		return nil, invalid("body must be object")
	}
	var o object
	if err := json.Unmarshal(body, &o); err != nil {
		return nil, &inputError{400, "", "Body is not valid JSON"}
	}
	name, hasName := o["name"]
	desc, hasDesc := o["description"]
	price, hasPrice := o["price_cents"]
	tags, hasTags := o["tags"]
	if !partial && !hasName {
		return nil, invalid("body must have required property 'name'")
	}
	if !partial && !hasPrice {
		return nil, invalid("body must have required property 'price_cents'")
	}
	in := &itemInput{}
	var e *inputError
	if hasName {
		if in.name, e = checkString(name, "body/name", 1, 200); e != nil {
			return nil, e
		}
		in.hasName = true
	}
	if hasDesc {
		in.hasDesc = true
		if !isNull(desc) {
			if !isString(desc) {
				return nil, invalid("body/description must be string,null")
			}
			s, e := checkString(desc, "body/description", 0, 2000)
			if e != nil {
				return nil, e
			}
			in.desc = &s
		}
	}
	if hasPrice {
		const path = "body/price_cents"
		if !isNumber(price) {
			return nil, invalid(path + " must be integer")
		}
		f := numberValue(price)
		switch {
		case math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f):
			return nil, invalid(path + " must be integer")
		case f < 0:
			return nil, invalid(path + " must be >= 0")
		case f > 1000000000:
			return nil, invalid(path + " must be <= 1000000000")
		}
		in.price, in.hasPrice = int64(f), true
	}
	if hasTags {
		if !isArray(tags) {
			return nil, invalid("body/tags must be array")
		}
		var list []json.RawMessage
		if err := json.Unmarshal(tags, &list); err != nil {
			return nil, invalid("body/tags must be array")
		}
		if len(list) > 16 {
			return nil, invalid("body/tags must NOT have more than 16 items")
		}
		in.tags = make([]string, len(list))
		for i, t := range list {
			if in.tags[i], e = checkString(t, "body/tags/"+strconv.Itoa(i), 1, 32); e != nil {
				return nil, e
			}
		}
		in.hasTags = true
	} else if !partial {
		in.tags, in.hasTags = []string{}, true
	}
	return in, nil
}

// itemBody reads and checks the request's body; false when it answered.
func (s *server) itemBody(w http.ResponseWriter, r *http.Request, partial bool) (*itemInput, bool) {
	body, ok := s.readBody(w, r)
	if !ok {
		return nil, false
	}
	in, e := parseItem(r.Header.Get("Content-Type"), body, partial)
	if e != nil {
		writeError(w, e.status, e.code, e.msg)
		return nil, false
	}
	return in, true
}

func itemNotFound(w http.ResponseWriter, id int64) {
	writeError(w, http.StatusNotFound, "", "item "+strconv.FormatInt(id, 10)+" not found")
}

func writeItem(w http.ResponseWriter, status int, it *item) {
	writeJSON(w, status, appendItem(make([]byte, 0, 256), it))
}

func (s *server) itemGet(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var it item
	err := s.stmts["item_get"].QueryRowxContext(r.Context(), id).StructScan(&it)
	if errors.Is(err, sql.ErrNoRows) {
		itemNotFound(w, id)
		return
	}
	if err != nil {
		dbError(w, "item_get", err)
		return
	}
	writeItem(w, http.StatusOK, &it)
}

func (s *server) itemCreate(w http.ResponseWriter, r *http.Request) {
	in, ok := s.itemBody(w, r, false)
	if !ok {
		return
	}
	var it item
	err := s.stmts["item_insert"].QueryRowxContext(r.Context(), in.name, in.desc, in.price, in.tags).StructScan(&it)
	if err != nil {
		dbError(w, "item_insert", err)
		return
	}
	w.Header().Set("Location", "/items/"+strconv.FormatInt(it.ID, 10))
	writeItem(w, http.StatusCreated, &it)
}

func (s *server) itemReplace(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	in, ok := s.itemBody(w, r, false)
	if !ok {
		return
	}
	var it item
	err := s.stmts["item_replace"].QueryRowxContext(r.Context(), id, in.name, in.desc, in.price, in.tags).StructScan(&it)
	if errors.Is(err, sql.ErrNoRows) {
		itemNotFound(w, id)
		return
	}
	if err != nil {
		dbError(w, "item_replace", err)
		return
	}
	writeItem(w, http.StatusOK, &it)
}

func (s *server) itemPatch(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	in, ok := s.itemBody(w, r, true)
	if !ok {
		return
	}
	// $2 name, $3 "description is being set", $4 description, $5 price, $6 tags;
	// NULL (nil) where absent.
	var name, price, tags interface{}
	if in.hasName {
		name = in.name
	}
	if in.hasPrice {
		price = in.price
	}
	if in.hasTags {
		tags = in.tags
	}
	var it item
	err := s.stmts["item_patch"].QueryRowxContext(r.Context(), id, name, in.hasDesc, in.desc, price, tags).StructScan(&it)
	if errors.Is(err, sql.ErrNoRows) {
		itemNotFound(w, id)
		return
	}
	if err != nil {
		dbError(w, "item_patch", err)
		return
	}
	writeItem(w, http.StatusOK, &it)
}

func (s *server) itemDelete(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	res, err := s.stmts["item_delete"].ExecContext(r.Context(), id)
	if err != nil {
		dbError(w, "item_delete", err)
		return
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		itemNotFound(w, id)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) itemList(w http.ResponseWriter, r *http.Request) {
	limit, after := int64(20), int64(0)
	if v, present, broken := queryParam(r, "limit"); present {
		var ok bool
		if limit, ok = parseDigits(v, 1<<20, 1, 100); broken || !ok {
			writeError(w, http.StatusBadRequest, codeValidation, "querystring/limit must be an integer from 1 to 100")
			return
		}
	}
	if v, present, broken := queryParam(r, "after"); present {
		var ok bool
		if after, ok = parseDigits(v, 1<<20, 0, maxInt64); broken || !ok {
			writeError(w, http.StatusBadRequest, codeValidation, "querystring/after must be an integer from 0 to 9223372036854775807")
			return
		}
	}
	rows, err := s.stmts["item_list"].QueryxContext(r.Context(), after, limit+1)
	if err != nil {
		dbError(w, "item_list", err)
		return
	}
	defer rows.Close()
	items := make([]item, 0, limit+1)
	for rows.Next() {
		var it item
		if err := rows.StructScan(&it); err != nil {
			dbError(w, "item_list", err)
			return
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		dbError(w, "item_list", err)
		return
	}
	var next int64 = -1
	if int64(len(items)) > limit {
		items = items[:limit]
		next = items[limit-1].ID
	}
	b := make([]byte, 0, 64+256*len(items))
	b = append(b, `{"items":[`...)
	for i := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendItem(b, &items[i])
	}
	b = append(b, `],"next_after":`...)
	if next >= 0 {
		b = appendInt(b, next)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, '}')
	writeJSON(w, http.StatusOK, b)
}
