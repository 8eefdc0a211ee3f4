package main

import (
	"encoding/json"
	"math"
	"math/big"
	"net/http"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"
)

// W3: POST /transform (docs/workloads.md, "W3"). Runs on the request's
// goroutine: Go has no event loop to protect, so ?mode=loop|pool is checked
// and otherwise ignored.

const (
	maxDepth      = 8
	maxOrders     = 10000
	maxLines      = 100000
	maxSafeInt    = 9007199254740991
	placedAtError = " must be an RFC 3339 date-time like 2025-03-01T23:30:00.123+05:30 (year 1900 to 2999)"
)

type docError struct{ msg string }

func (e *docError) Error() string { return e.msg }

func fail(msg string) error { return &docError{msg} }

type xLine struct {
	sku, category   string
	qty, gross, net int64
}

type xOrder struct {
	id, custID       int64
	idx              int
	name             string
	email            string
	hasEmail         bool
	status           string
	sec, nsec        int64
	lines            []xLine
	gross, net, ship int64
	total            int64
}

func (s *server) transform(w http.ResponseWriter, r *http.Request) {
	if v, present, broken := queryParam(r, "mode"); present && (broken || (v != "loop" && v != "pool")) {
		writeError(w, http.StatusBadRequest, "", "querystring/mode must be one of loop, pool")
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" && len(body) == 0 {
		writeError(w, http.StatusBadRequest, "", "body must be object")
		return
	}
	if !isJSONType(ct) {
		e := mediaTypeError(ct)
		writeError(w, e.status, e.code, e.msg)
		return
	}
	if len(body) == 0 {
		writeError(w, http.StatusBadRequest, codeEmptyBody, emptyJSONBody)
		return
	}
	out, err := transformDoc(body)
	if err != nil {
		if de, ok := err.(*docError); ok {
			writeError(w, http.StatusBadRequest, "", de.msg)
			return
		}
		logLine(50, "transform failed", "err", err.Error())
		writeError(w, http.StatusInternalServerError, "", "Internal Server Error")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// The document is decoded once with encoding/json into interface{} values
// (map[string]interface{}, []interface{}, float64, string, bool, nil):
// exactly what JSON.parse gives (exact keys, the last duplicate wins,
// numbers as doubles), which decoding into structs would not be (struct
// fields match keys case-insensitively).
type jobj = map[string]interface{}

// transformDoc checks the document (steps 2 to 8 of docs/workloads.md) and
// writes the output.
func transformDoc(body []byte) ([]byte, error) {
	if !utf8.Valid(body) {
		return nil, fail("body must be valid UTF-8")
	}
	depth, lone := scanRaw(body)
	if depth > maxDepth {
		return nil, fail("body must NOT be nested deeper than 8 levels")
	}
	var doc interface{}
	if lone || json.Unmarshal(body, &doc) != nil {
		return nil, fail("Body is not valid JSON")
	}
	top, ok := doc.(jobj)
	if !ok {
		return nil, fail("body must be object")
	}
	ordersV, ok := top["orders"]
	if !ok {
		return nil, fail("body must have required property 'orders'")
	}
	orders, ok := ordersV.([]interface{})
	if !ok {
		return nil, fail("body/orders must be array")
	}
	if len(orders) > maxOrders {
		return nil, fail("body/orders must NOT have more than 10000 items")
	}
	linesIn := 0
	for _, o := range orders {
		if m, ok := o.(jobj); ok {
			if l, ok := m["lines"].([]interface{}); ok {
				linesIn += len(l)
			}
		}
	}
	if linesIn > maxLines {
		return nil, fail("body/orders must NOT have more than 100000 lines in total")
	}
	all := make([]xOrder, len(orders))
	for i, o := range orders {
		if err := checkOrder(o, i, &all[i]); err != nil {
			return nil, err
		}
	}
	return render(all, linesIn, len(body)), nil
}

func need(o jobj, p, k string) (interface{}, error) {
	v, ok := o[k]
	if !ok {
		return nil, fail(p + " must have required property '" + k + "'")
	}
	return v, nil
}

func intField(o jobj, p, k string, lo, hi int64) (int64, error) {
	v, err := need(o, p, k)
	if err != nil {
		return 0, err
	}
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
		return 0, fail(p + "/" + k + " must be an integer from " + strconv.FormatInt(lo, 10) + " to " + strconv.FormatInt(hi, 10))
	}
	return int64(f), nil
}

func strField(o jobj, p, k string) (string, error) {
	v, err := need(o, p, k)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return "", fail(p + "/" + k + " must be a non-empty string")
	}
	return s, nil
}

// decimal parses ^(0|[1-9][0-9]{0,I-1})(\.[0-9]{1,F})?$ scaled by 10^F; ok
// false when s does not match or the value is above max.
func decimal(s string, intDigits, frac int, max int64) (int64, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i > intDigits || (i > 1 && s[0] == '0') {
		return 0, false
	}
	var v int64
	for k := 0; k < i; k++ {
		v = v*10 + int64(s[k]-'0')
	}
	f := 0
	if i < len(s) {
		if s[i] != '.' {
			return 0, false
		}
		for j := i + 1; j < len(s); j++ {
			if s[j] < '0' || s[j] > '9' {
				return 0, false
			}
			v = v*10 + int64(s[j]-'0')
			f++
		}
		if f == 0 || f > frac {
			return 0, false
		}
	}
	for ; f < frac; f++ {
		v *= 10
	}
	return v, v <= max
}

func decField(o jobj, p, k string, intDigits, frac int, max int64, maxText string, optional bool) (int64, error) {
	v, ok := o[k]
	if !ok {
		if optional {
			return 0, nil
		}
		return 0, fail(p + " must have required property '" + k + "'")
	}
	var n int64
	if s, isStr := v.(string); isStr {
		n, ok = decimal(s, intDigits, frac, max)
	} else {
		ok = false
	}
	if !ok {
		return 0, fail(p + "/" + k + " must be a decimal string from 0 to " + maxText +
			" with at most " + strconv.Itoa(frac) + " decimals")
	}
	return n, nil
}

func digits(s string, n int) (int64, bool) {
	if len(s) < n {
		return 0, false
	}
	var v int64
	for i := 0; i < n; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func leap(y int64) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

var monthDays = [13]int64{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// parsePlacedAt reads YYYY-MM-DDTHH:MM:SS[.F](Z|±HH:MM) as a UTC instant.
func parsePlacedAt(s string) (sec, nsec int64, ok bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, 0, false
	}
	y, ok1 := digits(s, 4)
	mo, ok2 := digits(s[5:], 2)
	d, ok3 := digits(s[8:], 2)
	h, ok4 := digits(s[11:], 2)
	mi, ok5 := digits(s[14:], 2)
	se, ok6 := digits(s[17:], 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return 0, 0, false
	}
	rest := s[19:]
	if rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 1 || i > 10 {
			return 0, 0, false
		}
		frac := rest[1:i]
		for k := 0; k < 9; k++ {
			nsec *= 10
			if k < len(frac) {
				nsec += int64(frac[k] - '0')
			}
		}
		rest = rest[i:]
	}
	var east int64
	switch {
	case rest == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, okh := digits(rest[1:], 2)
		om, okm := digits(rest[4:], 2)
		if !okh || !okm || oh > 23 || om > 59 {
			return 0, 0, false
		}
		east = oh*3600 + om*60
		if rest[0] == '-' {
			east = -east
		}
	default:
		return 0, 0, false
	}
	if y < 1900 || y > 2999 || mo < 1 || mo > 12 || h > 23 || mi > 59 || se > 59 {
		return 0, 0, false
	}
	dim := monthDays[mo]
	if mo == 2 && leap(y) {
		dim = 29
	}
	if d < 1 || d > dim {
		return 0, 0, false
	}
	sec = daysFromCivil(y, mo, d)*86400 + h*3600 + mi*60 + se - east
	return sec, nsec, true
}

var statuses = map[string]bool{"pending": true, "paid": true, "shipped": true, "delivered": true, "cancelled": true}

// round(a / b) half up, a >= 0, b > 0.
func roundDiv(a, b int64) int64 { return (2*a + b) / (2 * b) }

func checkOrder(v interface{}, idx int, out *xOrder) error {
	p := "body/orders/" + strconv.Itoa(idx)
	o, ok := v.(jobj)
	if !ok {
		return fail(p + " must be object")
	}
	var err error
	out.idx = idx
	if out.id, err = intField(o, p, "id", 1, maxSafeInt); err != nil {
		return err
	}
	cv, err := need(o, p, "customer")
	if err != nil {
		return err
	}
	cp := p + "/customer"
	c, ok := cv.(jobj)
	if !ok {
		return fail(cp + " must be object")
	}
	if out.custID, err = intField(c, cp, "id", 1, maxSafeInt); err != nil {
		return err
	}
	if out.name, err = strField(c, cp, "name"); err != nil {
		return err
	}
	if e, ok := c["email"]; ok && e != nil {
		s, isStr := e.(string)
		if !isStr {
			return fail(cp + "/email must be a string or null")
		}
		out.email, out.hasEmail = s, true
	}
	st, err := need(o, p, "status")
	if err != nil {
		return err
	}
	out.status, _ = st.(string)
	if !statuses[out.status] {
		return fail(p + "/status must be one of pending, paid, shipped, delivered, cancelled")
	}
	pa, err := need(o, p, "placed_at")
	if err != nil {
		return err
	}
	ok = false
	if s, isStr := pa.(string); isStr {
		out.sec, out.nsec, ok = parsePlacedAt(s)
	}
	if !ok {
		return fail(p + "/placed_at" + placedAtError)
	}
	lv, err := need(o, p, "lines")
	if err != nil {
		return err
	}
	lines, ok := lv.([]interface{})
	if !ok {
		return fail(p + "/lines must be array")
	}
	keep := out.status != "cancelled"
	for j, raw := range lines {
		lp := p + "/lines/" + strconv.Itoa(j)
		l, ok := raw.(jobj)
		if !ok {
			return fail(lp + " must be object")
		}
		var line xLine
		if line.sku, err = strField(l, lp, "sku"); err != nil {
			return err
		}
		if line.category, err = strField(l, lp, "category"); err != nil {
			return err
		}
		if line.qty, err = intField(l, lp, "quantity", -1000, 1000); err != nil {
			return err
		}
		price, err := decField(l, lp, "unit_price", 4, 4, 99999999, "9999.9999", false)
		if err != nil {
			return err
		}
		bp, err := decField(l, lp, "discount_pct", 3, 2, 10000, "100", true)
		if err != nil {
			return err
		}
		if !keep || line.qty <= 0 {
			continue
		}
		line.gross = roundDiv(line.qty*price, 100)
		line.net = roundDiv(line.qty*price*(10000-bp), 1000000)
		out.gross += line.gross
		out.net += line.net
		out.lines = append(out.lines, line)
	}
	if out.ship, err = decField(o, p, "shipping", 5, 2, 9999999, "99999.99", false); err != nil {
		return err
	}
	out.total = out.net + out.ship
	return nil
}

var weekdays = [7]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

type customerGroup struct {
	id     int64
	orders []*xOrder
	total  int64
}

type categoryStat struct {
	name              string
	net, units, lines int64
}

// appendCents prints m/100 with exactly two decimals.
func appendCents(b []byte, m *big.Int) []byte {
	q, r := new(big.Int).QuoRem(m, big.NewInt(100), new(big.Int))
	b = q.Append(b, 10)
	b = append(b, '.')
	rv := r.Int64()
	return append(b, byte('0'+rv/10), byte('0'+rv%10))
}

func render(all []xOrder, linesIn, inSize int) []byte {
	var kept []*xOrder
	cancelled, empty := 0, 0
	for i := range all {
		o := &all[i]
		switch {
		case o.status == "cancelled":
			cancelled++
		case len(o.lines) == 0:
			empty++
		default:
			kept = append(kept, o)
		}
	}

	// Groups by customer id, first seen first (the order is fixed below).
	var groups []*customerGroup
	byID := make(map[int64]*customerGroup)
	for _, o := range kept {
		g := byID[o.custID]
		if g == nil {
			g = &customerGroup{id: o.custID}
			byID[o.custID] = g
			groups = append(groups, g)
		}
		g.orders = append(g.orders, o)
		g.total += o.total
	}
	for _, g := range groups {
		list := g.orders
		sort.Slice(list, func(a, b int) bool {
			x, y := list[a], list[b]
			if x.sec != y.sec {
				return x.sec < y.sec
			}
			if x.nsec != y.nsec {
				return x.nsec < y.nsec
			}
			if x.id != y.id {
				return x.id < y.id
			}
			return x.idx < y.idx
		})
	}
	sort.Slice(groups, func(a, b int) bool {
		if groups[a].total != groups[b].total {
			return groups[a].total > groups[b].total
		}
		return groups[a].id < groups[b].id
	})

	var gross, net, ship, units int64
	linesOut := 0
	var byDay [7]int64
	cats := make(map[string]*categoryStat)
	var catList []*categoryStat
	for _, o := range kept {
		gross += o.gross
		net += o.net
		ship += o.ship
		linesOut += len(o.lines)
		byDay[(int(time.Unix(o.sec, 0).UTC().Weekday())+6)%7] += o.total
		for _, l := range o.lines {
			units += l.qty
			c := cats[l.category]
			if c == nil {
				c = &categoryStat{name: l.category}
				cats[l.category] = c
				catList = append(catList, c)
			}
			c.net += l.net
			c.units += l.qty
			c.lines++
		}
	}
	sort.Slice(catList, func(a, b int) bool {
		if catList[a].net != catList[b].net {
			return catList[a].net > catList[b].net
		}
		return catList[a].name < catList[b].name // Go compares strings byte by byte
	})

	b := make([]byte, 0, inSize+inSize/4+1024)
	b = append(b, `{"counts":{"orders_in":`...)
	b = strconv.AppendInt(b, int64(len(all)), 10)
	b = append(b, `,"orders_cancelled":`...)
	b = strconv.AppendInt(b, int64(cancelled), 10)
	b = append(b, `,"orders_empty":`...)
	b = strconv.AppendInt(b, int64(empty), 10)
	b = append(b, `,"orders_out":`...)
	b = strconv.AppendInt(b, int64(len(kept)), 10)
	b = append(b, `,"lines_in":`...)
	b = strconv.AppendInt(b, int64(linesIn), 10)
	b = append(b, `,"lines_out":`...)
	b = strconv.AppendInt(b, int64(linesOut), 10)
	b = append(b, `,"customers":`...)
	b = strconv.AppendInt(b, int64(len(groups)), 10)
	b = append(b, `,"units":`...)
	b = strconv.AppendInt(b, units, 10)
	b = append(b, `},"totals":{"gross_cents":`...)
	b = strconv.AppendInt(b, gross, 10)
	b = append(b, `,"discount_cents":`...)
	b = strconv.AppendInt(b, gross-net, 10)
	b = append(b, `,"subtotal_cents":`...)
	b = strconv.AppendInt(b, net, 10)
	b = append(b, `,"shipping_cents":`...)
	b = strconv.AppendInt(b, ship, 10)
	b = append(b, `,"revenue_cents":`...)
	b = strconv.AppendInt(b, net+ship, 10)
	b = append(b, `},"order_totals":`...)
	b = appendStats(b, kept)
	b = append(b, `,"revenue_by_weekday":{`...)
	for i, d := range weekdays {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, d...)
		b = append(b, `":`...)
		b = strconv.AppendInt(b, byDay[i], 10)
	}
	b = append(b, `},"revenue_by_category":[`...)
	for i, c := range catList {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"category":`...)
		b = appendString(b, c.name)
		b = append(b, `,"net_cents":`...)
		b = strconv.AppendInt(b, c.net, 10)
		b = append(b, `,"units":`...)
		b = strconv.AppendInt(b, c.units, 10)
		b = append(b, `,"lines":`...)
		b = strconv.AppendInt(b, c.lines, 10)
		b = append(b, '}')
	}
	b = append(b, `],"customers":[`...)
	for i, g := range groups {
		if i > 0 {
			b = append(b, ',')
		}
		first := g.orders[0]
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, g.id, 10)
		b = append(b, `,"name":`...)
		b = appendString(b, first.name)
		b = append(b, `,"email":`...)
		if first.hasEmail {
			b = appendString(b, first.email)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"order_count":`...)
		b = strconv.AppendInt(b, int64(len(g.orders)), 10)
		b = append(b, `,"total_cents":`...)
		b = strconv.AppendInt(b, g.total, 10)
		b = append(b, `,"orders":[`...)
		for j, o := range g.orders {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendOrder(b, o)
		}
		b = append(b, "]}"...)
	}
	return append(b, "]}"...)
}

func appendOrder(b []byte, o *xOrder) []byte {
	t := time.Unix(o.sec, 0).UTC()
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, o.id, 10)
	b = append(b, `,"status":`...)
	b = appendString(b, o.status)
	b = append(b, `,"placed_at":"`...)
	b = t.AppendFormat(b, "2006-01-02T15:04:05")
	ms := o.nsec / 1000000
	b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z', '"')
	b = append(b, `,"weekday":"`...)
	b = append(b, weekdays[(int(t.Weekday())+6)%7]...)
	b = append(b, `","iso_week":"`...)
	y, wk := t.ISOWeek()
	b = append(b, byte('0'+y/1000%10), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10),
		'-', 'W', byte('0'+wk/10), byte('0'+wk%10), '"')
	b = append(b, `,"lines":[`...)
	for i, l := range o.lines {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"sku":`...)
		b = appendString(b, l.sku)
		b = append(b, `,"category":`...)
		b = appendString(b, l.category)
		b = append(b, `,"quantity":`...)
		b = strconv.AppendInt(b, l.qty, 10)
		b = append(b, `,"gross_cents":`...)
		b = strconv.AppendInt(b, l.gross, 10)
		b = append(b, `,"discount_cents":`...)
		b = strconv.AppendInt(b, l.gross-l.net, 10)
		b = append(b, `,"net_cents":`...)
		b = strconv.AppendInt(b, l.net, 10)
		b = append(b, '}')
	}
	b = append(b, `],"gross_cents":`...)
	b = strconv.AppendInt(b, o.gross, 10)
	b = append(b, `,"discount_cents":`...)
	b = strconv.AppendInt(b, o.gross-o.net, 10)
	b = append(b, `,"subtotal_cents":`...)
	b = strconv.AppendInt(b, o.net, 10)
	b = append(b, `,"shipping_cents":`...)
	b = strconv.AppendInt(b, o.ship, 10)
	b = append(b, `,"total_cents":`...)
	b = strconv.AppendInt(b, o.total, 10)
	return append(b, '}')
}

// appendStats: mean and population standard deviation to hundredths of a
// cent, computed exactly in integers (math/big: Σx² needs more than 64
// bits), and nearest-rank percentiles.
func appendStats(b []byte, kept []*xOrder) []byte {
	n := len(kept)
	if n == 0 {
		return append(b, `{"mean_cents":null,"stddev_cents":null,"p50_cents":null,"p90_cents":null,"p99_cents":null}`...)
	}
	v := make([]int64, n)
	sum, sq := new(big.Int), new(big.Int)
	x := new(big.Int)
	for i, o := range kept {
		v[i] = o.total
		x.SetInt64(o.total)
		sum.Add(sum, x)
		sq.Add(sq, x.Mul(x, x))
	}
	sort.Slice(v, func(a, c int) bool { return v[a] < v[c] })
	bn := big.NewInt(int64(n))
	// mean = round(100 · sum / n) = (200·sum + n) / (2n)
	mean := new(big.Int).Mul(sum, big.NewInt(200))
	mean.Add(mean, bn)
	mean.Quo(mean, new(big.Int).Mul(bn, big.NewInt(2)))
	// N = n·Σx² − (Σx)², Q = floor(40000·N / n²), s = (isqrt(Q) + 1) / 2
	N := new(big.Int).Mul(bn, sq)
	N.Sub(N, new(big.Int).Mul(sum, sum))
	Q := N.Mul(N, big.NewInt(40000))
	Q.Quo(Q, new(big.Int).Mul(bn, bn))
	sd := new(big.Int).Sqrt(Q)
	sd.Add(sd, big.NewInt(1))
	sd.Quo(sd, big.NewInt(2))
	pct := func(p int) int64 {
		rank := (p*n + 99) / 100
		if rank < 1 {
			rank = 1
		}
		return v[rank-1]
	}
	b = append(b, `{"mean_cents":`...)
	b = appendCents(b, mean)
	b = append(b, `,"stddev_cents":`...)
	b = appendCents(b, sd)
	b = append(b, `,"p50_cents":`...)
	b = strconv.AppendInt(b, pct(50), 10)
	b = append(b, `,"p90_cents":`...)
	b = strconv.AppendInt(b, pct(90), 10)
	b = append(b, `,"p99_cents":`...)
	b = strconv.AppendInt(b, pct(99), 10)
	return append(b, '}')
}
