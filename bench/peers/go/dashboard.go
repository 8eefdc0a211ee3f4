package main

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v4"
	"github.com/jackc/pgx/v4/stdlib"
)

// W2: GET /customers/:id/dashboard (docs/workloads.md, "W2"): the customer
// first, then five sections, sequential (one sql.Conn), parallel (goroutines
// on the pool) or pipeline (one pgx batch on one connection).

type dashCustomer struct {
	ID               int64
	Name, Email, Reg string
	CreatedAt, AsOf  time.Time
}

type monthRow struct {
	Month         time.Time
	Orders, Spend int64
}

type productRow struct {
	ID                  int64
	SKU, Name, Category string
	Units, Spend        int64
}

type recentRow struct {
	OrderID   int64
	PlacedAt  time.Time
	Status    string
	Total     int64
	LineNo    int64
	ProductID int64
	SKU, Name string
	Quantity  int64
	UnitPrice int64
}

type categoryRow struct {
	Category     string
	Units, Spend int64
}

type regionRow struct {
	Region                string
	Orders, AvgOrderCents int64
}

type dashboard struct {
	customer dashCustomer
	monthly  []monthRow
	top      []productRow
	recent   []recentRow
	cats     []categoryRow
	region   *regionRow
}

// rows is what *sql.Rows and pgx.Rows have in common.
type rows interface {
	Next() bool
	Scan(dest ...interface{}) error
	Err() error
}

type section struct {
	stmt string
	scan func(rows, *dashboard) error
}

var sections = []section{
	{"dash_monthly", func(r rows, d *dashboard) error {
		for r.Next() {
			var m monthRow
			if err := r.Scan(&m.Month, &m.Orders, &m.Spend); err != nil {
				return err
			}
			d.monthly = append(d.monthly, m)
		}
		return r.Err()
	}},
	{"dash_top_products", func(r rows, d *dashboard) error {
		for r.Next() {
			var p productRow
			if err := r.Scan(&p.ID, &p.SKU, &p.Name, &p.Category, &p.Units, &p.Spend); err != nil {
				return err
			}
			d.top = append(d.top, p)
		}
		return r.Err()
	}},
	{"dash_recent_orders", func(r rows, d *dashboard) error {
		for r.Next() {
			var o recentRow
			if err := r.Scan(&o.OrderID, &o.PlacedAt, &o.Status, &o.Total, &o.LineNo,
				&o.ProductID, &o.SKU, &o.Name, &o.Quantity, &o.UnitPrice); err != nil {
				return err
			}
			d.recent = append(d.recent, o)
		}
		return r.Err()
	}},
	{"dash_categories", func(r rows, d *dashboard) error {
		for r.Next() {
			var c categoryRow
			if err := r.Scan(&c.Category, &c.Units, &c.Spend); err != nil {
				return err
			}
			d.cats = append(d.cats, c)
		}
		return r.Err()
	}},
	{"dash_region", func(r rows, d *dashboard) error {
		for r.Next() {
			var g regionRow
			if err := r.Scan(&g.Region, &g.Orders, &g.AvgOrderCents); err != nil {
				return err
			}
			d.region = &g
		}
		return r.Err()
	}},
}

type scanRow interface {
	Scan(dest ...interface{}) error
}

func scanCustomer(r scanRow, c *dashCustomer) error {
	return r.Scan(&c.ID, &c.Name, &c.Email, &c.Reg, &c.CreatedAt, &c.AsOf)
}

var errNoCustomer = errors.New("no such customer")

func isNoRows(err error) bool {
	return errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows)
}

// sequential: every statement one after another on one connection (pgx
// prepares and caches each statement on that connection).
func (s *server) dashSequential(ctx context.Context, id int64, d *dashboard) error {
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := scanCustomer(conn.QueryRowContext(ctx, s.sql["dash_customer"], id), &d.customer); err != nil {
		if isNoRows(err) {
			return errNoCustomer
		}
		return err
	}
	for _, sec := range sections {
		r, err := conn.QueryContext(ctx, s.sql[sec.stmt], id)
		if err != nil {
			return err
		}
		err = sec.scan(r, d)
		r.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// parallel: the customer, then the five others at once, each on a pool
// connection (the prepared statements of start-up).
func (s *server) dashParallel(ctx context.Context, id int64, d *dashboard) error {
	if err := scanCustomer(s.stmts["dash_customer"].QueryRowContext(ctx, id), &d.customer); err != nil {
		if isNoRows(err) {
			return errNoCustomer
		}
		return err
	}
	var wg sync.WaitGroup
	parts := make([]dashboard, len(sections))
	errs := make([]error, len(sections))
	for i := range sections {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := s.stmts[sections[i].stmt].QueryContext(ctx, id)
			if err != nil {
				errs[i] = err
				return
			}
			defer r.Close()
			errs[i] = sections[i].scan(r, &parts[i])
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	d.monthly, d.top, d.recent, d.cats, d.region =
		parts[0].monthly, parts[1].top, parts[2].recent, parts[3].cats, parts[4].region
	return nil
}

// pipeline: the customer, then the five others as one pgx batch (Bind and
// Execute of each, one Sync: a single round trip) on one connection.
func (s *server) dashPipeline(ctx context.Context, id int64, d *dashboard) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(driverConn interface{}) error {
		pc := driverConn.(*stdlib.Conn).Conn()
		if err := scanCustomer(pc.QueryRow(ctx, s.sql["dash_customer"], id), &d.customer); err != nil {
			if isNoRows(err) {
				return errNoCustomer
			}
			return err
		}
		batch := &pgx.Batch{}
		for _, sec := range sections {
			batch.Queue(s.sql[sec.stmt], id)
		}
		br := pc.SendBatch(ctx, batch)
		for _, sec := range sections {
			r, err := br.Query()
			if err != nil {
				br.Close()
				return err
			}
			err = sec.scan(r, d)
			r.Close()
			if err != nil {
				br.Close()
				return err
			}
		}
		return br.Close()
	})
}

func (s *server) dashboard(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	strategy := s.cfg.queries
	if v, present, _ := queryParam(r, "queries"); present {
		if v != "sequential" && v != "parallel" && v != "pipeline" {
			writeError(w, http.StatusBadRequest, codeValidation,
				"querystring/queries must be one of sequential, parallel, pipeline")
			return
		}
		strategy = v
	}
	var d dashboard
	var err error
	switch strategy {
	case "sequential":
		err = s.dashSequential(r.Context(), id, &d)
	case "pipeline":
		err = s.dashPipeline(r.Context(), id, &d)
	default:
		err = s.dashParallel(r.Context(), id, &d)
	}
	if err == errNoCustomer {
		writeError(w, http.StatusNotFound, "", "customer "+strconv.FormatInt(id, 10)+" not found")
		return
	}
	if err != nil {
		dbError(w, "dashboard", err)
		return
	}
	writeJSON(w, http.StatusOK, appendDashboard(make([]byte, 0, 16384), &d))
}

func appendDashboard(b []byte, d *dashboard) []byte {
	c := &d.customer
	b = append(b, `{"customer":{"id":`...)
	b = appendInt(b, c.ID)
	b = append(b, `,"name":`...)
	b = appendString(b, c.Name)
	b = append(b, `,"email":`...)
	b = appendString(b, c.Email)
	b = append(b, `,"region":`...)
	b = appendString(b, c.Reg)
	b = append(b, `,"created_at":`...)
	b = appendTime(b, c.CreatedAt)
	b = append(b, `},"as_of":`...)
	b = appendTime(b, c.AsOf)

	b = append(b, `,"monthly_spend":[`...)
	for i, m := range d.monthly {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"month":`...)
		b = appendMonth(b, m.Month)
		b = append(b, `,"orders":`...)
		b = appendInt(b, m.Orders)
		b = append(b, `,"spend_cents":`...)
		b = appendInt(b, m.Spend)
		b = append(b, '}')
	}

	b = append(b, `],"top_products":[`...)
	for i, p := range d.top {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"product_id":`...)
		b = appendInt(b, p.ID)
		b = append(b, `,"sku":`...)
		b = appendString(b, p.SKU)
		b = append(b, `,"name":`...)
		b = appendString(b, p.Name)
		b = append(b, `,"category":`...)
		b = appendString(b, p.Category)
		b = append(b, `,"units":`...)
		b = appendInt(b, p.Units)
		b = append(b, `,"spend_cents":`...)
		b = appendInt(b, p.Spend)
		b = append(b, '}')
	}

	// One row per line; consecutive rows of one order make one entry.
	b = append(b, `],"recent_orders":[`...)
	for i, o := range d.recent {
		if i == 0 || d.recent[i-1].OrderID != o.OrderID {
			if i > 0 {
				b = append(b, `]},`...)
			}
			b = append(b, `{"id":`...)
			b = appendInt(b, o.OrderID)
			b = append(b, `,"placed_at":`...)
			b = appendTime(b, o.PlacedAt)
			b = append(b, `,"status":`...)
			b = appendString(b, o.Status)
			b = append(b, `,"total_cents":`...)
			b = appendInt(b, o.Total)
			b = append(b, `,"lines":[`...)
		} else {
			b = append(b, ',')
		}
		b = append(b, `{"line_no":`...)
		b = appendInt(b, o.LineNo)
		b = append(b, `,"product_id":`...)
		b = appendInt(b, o.ProductID)
		b = append(b, `,"sku":`...)
		b = appendString(b, o.SKU)
		b = append(b, `,"name":`...)
		b = appendString(b, o.Name)
		b = append(b, `,"quantity":`...)
		b = appendInt(b, o.Quantity)
		b = append(b, `,"unit_price_cents":`...)
		b = appendInt(b, o.UnitPrice)
		b = append(b, '}')
	}
	if len(d.recent) > 0 {
		b = append(b, `]}`...)
	}

	b = append(b, `],"spend_by_category":[`...)
	for i, c := range d.cats {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"category":`...)
		b = appendString(b, c.Category)
		b = append(b, `,"units":`...)
		b = appendInt(b, c.Units)
		b = append(b, `,"spend_cents":`...)
		b = appendInt(b, c.Spend)
		b = append(b, '}')
	}

	b = append(b, `],"region_benchmark":`...)
	if g := d.region; g != nil {
		b = append(b, `{"region":`...)
		b = appendString(b, g.Region)
		b = append(b, `,"window_days":30,"orders":`...)
		b = appendInt(b, g.Orders)
		b = append(b, `,"avg_order_cents":`...)
		b = appendInt(b, g.AvgOrderCents)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	return append(b, '}')
}
