package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// The statements this peer uses: every one comes from sql/queries.sql.
var queryNames = []string{
	"ping", "item_get", "item_insert", "item_replace", "item_patch", "item_delete", "item_list",
	"dash_customer", "dash_monthly", "dash_top_products", "dash_recent_orders",
	"dash_categories", "dash_region",
}

type namedQuery struct {
	name, sql string
}

// parseQueries applies the rule stated at the top of sql/queries.sql: a block
// runs from `-- name: X` to the next such line or EOF; blank lines and
// comment-only lines are dropped; the rest is joined with "\n" and one
// trailing ";" is removed.
func parseQueries(text string) []namedQuery {
	var out []namedQuery
	var cur *namedQuery
	var lines []string
	flush := func() {
		if cur != nil {
			s := strings.Join(lines, "\n")
			s = strings.TrimSuffix(strings.TrimRight(s, " \n"), ";")
			cur.sql = s
			out = append(out, *cur)
		}
		lines = nil
	}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(line, "-- name:") {
			flush()
			cur = &namedQuery{name: strings.TrimSpace(strings.TrimPrefix(line, "-- name:"))}
			continue
		}
		if cur == nil || trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		lines = append(lines, line)
	}
	flush()
	return out
}

// loadQueries reads the file and checks that its names are exactly the ones
// used here.
func loadQueries(path string) ([]namedQuery, map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	list := parseQueries(string(data))
	byName := make(map[string]string, len(list))
	for _, q := range list {
		byName[q.name] = q.sql
	}
	want := make(map[string]bool, len(queryNames))
	var missing, extra []string
	for _, n := range queryNames {
		want[n] = true
		if _, ok := byName[n]; !ok {
			missing = append(missing, n)
		}
	}
	for n := range byName {
		if !want[n] {
			extra = append(extra, n)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		sort.Strings(extra)
		return nil, nil, fmt.Errorf("%s: statements do not match: missing [%s], extra [%s]",
			path, strings.Join(missing, " "), strings.Join(extra, " "))
	}
	return list, byName, nil
}
