// looplab-go: the Go peer of looplab (net/http + chi + sqlx + pgx v4 stdlib).
// The same routes, the same SQL (sql/queries.sql) and the same bytes as
// looplab and the Node peer; see README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-chi/chi"
	"github.com/jackc/pgx/v4"
	"github.com/jackc/pgx/v4/stdlib"
	"github.com/jmoiron/sqlx"
)

type config struct {
	host        string
	port        int
	databaseURL string
	poolSize    int
	queries     string // W2 default strategy: sequential|parallel|pipeline
	transform   string // loop|pool: accepted for parity, no effect in Go
	bodyLimit   int64
	queriesFile string
}

// bad reports a bad setting the way every looplab implementation does: one
// line on stderr, exit 2.
func bad(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "looplab-go: "+format+"\n", a...)
	os.Exit(2)
}

func envInt(name string, def, min, max int64) int64 {
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min || n > max {
		bad("%s must be an integer from %d to %d, not %q", name, min, max, v)
	}
	return n
}

func envChoice(name, def string, choices ...string) string {
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return def
	}
	for _, c := range choices {
		if v == c {
			return v
		}
	}
	bad("%s must be one of %s, not %q", name, strings.Join(choices, ", "), v)
	return ""
}

func loadConfig() config {
	c := config{
		host:      os.Getenv("HOST"),
		port:      int(envInt("PORT", 8080, 0, 65535)),
		poolSize:  int(envInt("PG_POOL_SIZE", 8, 1, 10000)),
		queries:   envChoice("LOOPLAB_QUERIES", "parallel", "sequential", "parallel", "pipeline"),
		transform: envChoice("LOOPLAB_TRANSFORM", "pool", "loop", "pool"),
		bodyLimit: envInt("LOOPLAB_BODY_LIMIT", 1048576, 1, 1<<40),
	}
	if c.host == "" {
		c.host = "127.0.0.1"
	}
	c.databaseURL = os.Getenv("DATABASE_URL")
	c.queriesFile = os.Getenv("LOOPLAB_QUERIES_FILE")
	if c.queriesFile == "" {
		// Relative to the peer's own directory (bench/peers/go); a binary
		// built elsewhere falls back to the working directory's sql/.
		c.queriesFile = defaultQueriesFile()
	}
	return c
}

func defaultQueriesFile() string {
	var candidates []string
	if _, src, _, ok := runtime.Caller(0); ok {
		candidates = append(candidates, filepath.Join(filepath.Dir(src), "../../../sql/queries.sql"))
	}
	if exe, err := os.Executable(); err == nil {
		candidates = append(candidates, filepath.Join(filepath.Dir(exe), "../../../sql/queries.sql"))
	}
	candidates = append(candidates, "sql/queries.sql")
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return candidates[0]
}

// logLine writes one pino-style JSON line.
func logLine(level int, msg string, fields ...interface{}) {
	b := make([]byte, 0, 256)
	b = append(b, `{"level":`...)
	b = strconv.AppendInt(b, int64(level), 10)
	b = append(b, `,"time":`...)
	b = strconv.AppendInt(b, time.Now().UnixMilli(), 10)
	b = append(b, `,"pid":`...)
	b = strconv.AppendInt(b, int64(os.Getpid()), 10)
	b = append(b, `,"msg":`...)
	b = appendString(b, msg)
	for i := 0; i+1 < len(fields); i += 2 {
		b = append(b, ',')
		b = appendString(b, fields[i].(string))
		b = append(b, ':')
		switch v := fields[i+1].(type) {
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		case int64:
			b = strconv.AppendInt(b, v, 10)
		case bool:
			b = strconv.AppendBool(b, v)
		default:
			b = appendString(b, fmt.Sprint(v))
		}
	}
	b = append(b, '}', '\n')
	out := os.Stdout
	if level >= 50 {
		out = os.Stderr
	}
	out.Write(b)
}

type server struct {
	cfg      config
	db       *sqlx.DB
	sql      map[string]string // statement text by name
	stmts    map[string]*sqlx.Stmt
	draining atomic.Bool
}

func main() {
	cfg := loadConfig()
	list, byName, err := loadQueries(cfg.queriesFile)
	if err != nil {
		logLine(50, err.Error())
		os.Exit(1)
	}
	if os.Getenv("LOOPLAB_PRINT_QUERIES") == "1" {
		b := []byte{'{'}
		for i, q := range list {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, q.name)
			b = append(b, ':')
			b = appendString(b, q.sql)
		}
		b = append(b, '}', '\n')
		os.Stdout.Write(b)
		return
	}
	if cfg.databaseURL == "" {
		bad("DATABASE_URL is required")
	}
	pgcfg, err := pgx.ParseConfig(cfg.databaseURL)
	if err != nil {
		bad("DATABASE_URL: %v", err)
	}

	db := sqlx.NewDb(stdlib.OpenDB(*pgcfg), "pgx")
	db.SetMaxOpenConns(cfg.poolSize)
	db.SetMaxIdleConns(cfg.poolSize)
	s := &server{cfg: cfg, db: db, sql: byName, stmts: make(map[string]*sqlx.Stmt)}
	if err := s.prepare(); err != nil {
		logLine(50, "preparing statements failed", "err", err.Error())
		os.Exit(1)
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.host, strconv.Itoa(cfg.port)))
	if err != nil {
		logLine(50, "listen failed", "err", err.Error())
		os.Exit(1)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       75 * time.Second,
		ErrorLog:          nil,
	}

	done := make(chan struct{})
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		got := <-sig
		s.draining.Store(true)
		logLine(30, "draining", "signal", got.String())
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			logLine(40, "shutdown", "err", err.Error())
		}
		close(done)
	}()

	logLine(30, "listening", "mode", "go", "port", port, "host", cfg.host,
		"pool_size", cfg.poolSize, "queries", cfg.queries, "transform", cfg.transform,
		"body_limit", cfg.bodyLimit, "gomaxprocs", runtime.GOMAXPROCS(0),
		"go", runtime.Version())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logLine(50, "serve failed", "err", err.Error())
		os.Exit(1)
	}
	<-done
	for _, st := range s.stmts {
		st.Close()
	}
	db.Close()
	logLine(30, "stopped")
}

// prepare prepares every statement once (database/sql prepares it again on
// each pool connection that runs it). A database that is not up yet is
// waited for, up to 30 s.
func (s *server) prepare() error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.db.PingContext(ctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, name := range queryNames {
		st, err := s.db.Preparex(s.sql[name])
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		s.stmts[name] = st
	}
	return nil
}

func (s *server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.bodyLimit)
	get := func(path string, h http.HandlerFunc) {
		r.Get(path, h)
		r.Head(path, h)
	}
	get("/livez", s.livez)
	get("/readyz", s.readyz)
	get("/items", s.itemList)
	r.Post("/items", s.itemCreate)
	get("/items/{id}", s.itemGet)
	r.Put("/items/{id}", s.itemReplace)
	r.Patch("/items/{id}", s.itemPatch)
	r.Delete("/items/{id}", s.itemDelete)
	get("/customers/{id}/dashboard", s.dashboard)
	r.Post("/transform", s.transform)

	r.NotFound(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, http.StatusNotFound, "", "Route "+req.Method+":"+req.RequestURI+" not found")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		var allow []string
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"} {
			if r.Match(chi.NewRouteContext(), m, req.URL.Path) {
				allow = append(allow, m)
			}
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, "",
			"Method "+req.Method+" is not allowed on "+rawPath(req))
	})
	return r
}

// rawPath is the request target's path as sent, without the query string.
func rawPath(r *http.Request) string {
	p := r.RequestURI
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return p
}

// bodyLimit refuses a declared body over the limit before routing (413 from
// the HTTP layer); readBody catches chunked bodies that grow past it.
func (s *server) bodyLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.cfg.bodyLimit {
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusRequestEntityTooLarge, codeTooLarge, "Request body is too large")
			return
		}
		next.ServeHTTP(w, r)
	})
}

var errTooLarge = errors.New("body too large")

// readBody reads the whole body, at most the limit; false when it answered.
func (s *server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	var body []byte
	var err error
	if r.ContentLength >= 0 {
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(io.LimitReader(r.Body, s.cfg.bodyLimit+1))
		if err == nil && int64(len(body)) > s.cfg.bodyLimit {
			err = errTooLarge
		}
	}
	if err != nil {
		if err == errTooLarge {
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusRequestEntityTooLarge, codeTooLarge, "Request body is too large")
		} else {
			writeError(w, http.StatusBadRequest, "", "Bad Request")
		}
		return nil, false
	}
	return body, true
}

func (s *server) livez(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`))
}

func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeUnavailable(w, "server is draining")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var one int64
	if err := s.stmts["ping"].QueryRowContext(ctx).Scan(&one); err != nil {
		writeUnavailable(w, "database unavailable")
		return
	}
	writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`))
}

// dbError answers a failed statement: 503 when the database cannot be
// reached (connection refused or lost, timeouts), 500 for anything the server
// itself refused (a bug).
func dbError(w http.ResponseWriter, what string, err error) {
	var pgErr interface{ SQLState() string }
	if errors.As(err, &pgErr) {
		code := pgErr.SQLState()
		// 08: connection exception, 57: operator intervention (shutdown), 53: resources.
		if !strings.HasPrefix(code, "08") && !strings.HasPrefix(code, "57") && !strings.HasPrefix(code, "53") {
			logLine(50, what+" failed", "err", err.Error())
			writeError(w, http.StatusInternalServerError, "", "Internal Server Error")
			return
		}
	}
	writeUnavailable(w, "database unavailable")
}
