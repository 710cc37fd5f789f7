// Package sqliteindex is the durable session index driver on SQLite
// (modernc.org/sqlite, pure Go, no cgo), opened through internal/sqlitedb
// (WAL, busy timeout, versioned migrations).
//
// Schema: insights_sessions holds one row per session (account, id, start
// time in microseconds, the JSON document); insights_terms is an inverted
// index (path, typed value, session) of every leaf value, insights_tokens
// one of the analyzed tokens, both WITHOUT ROWID tables whose primary keys
// are the postings, with a second index by session for sorting on any field
// and for deletes. A query is one SELECT over these tables: the date range
// and account on insights_sessions, each term and match clause an
// IN-subquery, the sort on columns or on the smallest/largest value of a
// path.
//
// Values keep their JSON type in SQLite (INTEGER/REAL, TEXT, and BLOB for
// booleans), so sorting orders numbers numerically, and types sort numbers,
// strings, booleans, as driver.Compare does.
package sqliteindex

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/driver"
	"github.com/voicegw/voicegw/internal/sqlitedb"
)

// schema is applied by sqlitedb.Migrate under the name "insights".
var schema = []string{`
CREATE TABLE insights_sessions (
	sid     INTEGER PRIMARY KEY,
	account TEXT NOT NULL,
	id      TEXT NOT NULL,
	start   INTEGER NOT NULL,
	doc     BLOB NOT NULL,
	UNIQUE (account, id)
);
CREATE INDEX insights_sessions_start ON insights_sessions (start);
CREATE INDEX insights_sessions_account_start ON insights_sessions (account, start);
CREATE INDEX insights_sessions_id ON insights_sessions (id);
CREATE TABLE insights_paths (
	pid  INTEGER PRIMARY KEY,
	path TEXT NOT NULL UNIQUE
);
CREATE TABLE insights_terms (
	pid INTEGER NOT NULL,
	v   NOT NULL,
	sid INTEGER NOT NULL,
	PRIMARY KEY (pid, v, sid)
) WITHOUT ROWID;
CREATE INDEX insights_terms_sid ON insights_terms (sid, pid, v);
CREATE TABLE insights_tokens (
	pid INTEGER NOT NULL,
	tok TEXT NOT NULL,
	sid INTEGER NOT NULL,
	PRIMARY KEY (pid, tok, sid)
) WITHOUT ROWID;
CREATE INDEX insights_tokens_sid ON insights_tokens (sid);
`}

// Open opens (creating if needed) the SQLite database at path (":memory:"
// for a private in-memory one) and returns an index over it.
func Open(ctx context.Context, path string) (*insights.Index, error) {
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	d, err := newDriver(ctx, db, true)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return insights.NewIndex(d), nil
}

// OpenDB returns an index over an open database (for example one shared
// with other voicegw stores); closing the index does not close db.
func OpenDB(ctx context.Context, db *sql.DB) (*insights.Index, error) {
	d, err := newDriver(ctx, db, false)
	if err != nil {
		return nil, err
	}
	return insights.NewIndex(d), nil
}

// NewDriver opens the driver itself, for tests and wrapping.
func NewDriver(ctx context.Context, path string) (*Driver, error) {
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	d, err := newDriver(ctx, db, true)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return d, nil
}

func newDriver(ctx context.Context, db *sql.DB, own bool) (*Driver, error) {
	if err := sqlitedb.Migrate(ctx, db, "insights", schema); err != nil {
		return nil, fmt.Errorf("sqliteindex: %w", err)
	}
	d := &Driver{db: db, own: own, paths: map[string]int64{}}
	rows, err := db.QueryContext(ctx, `SELECT pid, path FROM insights_paths`)
	if err != nil {
		return nil, fmt.Errorf("sqliteindex: load paths: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var pid int64
		var p string
		if err := rows.Scan(&pid, &p); err != nil {
			return nil, fmt.Errorf("sqliteindex: load paths: %w", err)
		}
		d.paths[p] = pid
	}
	return d, rows.Err()
}

// Driver implements driver.Driver on SQLite.
type Driver struct {
	db  *sql.DB
	own bool

	mu    sync.RWMutex // guards paths
	paths map[string]int64
}

// pathIDs makes sure every path of docs has an ID, committing new ones in
// their own transaction so the cache never holds an ID the database lacks.
func (d *Driver) pathIDs(ctx context.Context, docs []driver.Document) error {
	var missing []string
	seen := map[string]bool{}
	d.mu.RLock()
	for i := range docs {
		for _, fs := range [][]driver.Field{docs[i].Terms, docs[i].Tokens} {
			for _, f := range fs {
				if _, ok := d.paths[f.Path]; !ok && !seen[f.Path] {
					seen[f.Path] = true
					missing = append(missing, f.Path)
				}
			}
		}
	}
	d.mu.RUnlock()
	if len(missing) == 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	found := map[string]int64{}
	for _, p := range missing {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO insights_paths(path) VALUES (?)`, p); err != nil {
			return err
		}
		var pid int64
		if err := tx.QueryRowContext(ctx, `SELECT pid FROM insights_paths WHERE path = ?`, p).Scan(&pid); err != nil {
			return err
		}
		found[p] = pid
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	for p, pid := range found {
		d.paths[p] = pid
	}
	return nil
}

func (d *Driver) pid(p string) (int64, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	pid, ok := d.paths[p]
	return pid, ok
}

// sqlValue is the SQLite value of a leaf: INTEGER or REAL for numbers,
// TEXT for strings, a one-byte BLOB for booleans.
func sqlValue(v driver.Value) any {
	switch v.Kind {
	case driver.Number:
		if i, err := strconv.ParseInt(v.Text, 10, 64); err == nil {
			return i
		}
		return v.Num
	case driver.Bool:
		if v.Text == "true" {
			return []byte{1}
		}
		return []byte{0}
	}
	return v.Text
}

// probes lists the SQLite values a term's text equals, whatever its kind.
func probes(v driver.Value) []any {
	out := []any{v.Text}
	switch v.Text {
	case "true", "false":
		return append(out, sqlValue(insights.ValueOf(v.Text == "true")))
	}
	if n := insights.ValueOf(json.Number(v.Text)); n.Kind == driver.Number && n.Text == v.Text {
		out = append(out, sqlValue(n))
	}
	return out
}

// Put implements driver.Driver, in one transaction.
func (d *Driver) Put(ctx context.Context, docs []driver.Document) error {
	if len(docs) == 0 {
		return nil
	}
	if err := d.pathIDs(ctx, docs); err != nil {
		return fmt.Errorf("sqliteindex: %w", err)
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqliteindex: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	del, err := tx.PrepareContext(ctx, `DELETE FROM insights_sessions WHERE account = ? AND id = ? RETURNING sid`)
	if err != nil {
		return fmt.Errorf("sqliteindex: %w", err)
	}
	defer del.Close()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO insights_sessions(account, id, start, doc) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("sqliteindex: %w", err)
	}
	defer ins.Close()
	w := &batchWriter{tx: tx}
	for i := range docs {
		doc := &docs[i]
		var old int64
		switch err := del.QueryRowContext(ctx, doc.AccountID, doc.ID).Scan(&old); {
		case err == nil:
			// The replaced session's postings may still be buffered.
			if err := w.flush(ctx); err != nil {
				return err
			}
			if err := deletePostings(ctx, tx, old); err != nil {
				return err
			}
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqliteindex: replace %q: %w", doc.ID, err)
		}
		r, err := ins.ExecContext(ctx, doc.AccountID, doc.ID, doc.Start, doc.JSON)
		if err != nil {
			return fmt.Errorf("sqliteindex: insert %q: %w", doc.ID, err)
		}
		sid, err := r.LastInsertId()
		if err != nil {
			return fmt.Errorf("sqliteindex: insert %q: %w", doc.ID, err)
		}
		d.mu.RLock()
		for _, f := range doc.Terms {
			w.term(d.paths[f.Path], sqlValue(f.Value), sid)
		}
		for _, f := range doc.Tokens {
			w.token(d.paths[f.Path], f.Value.Text, sid)
		}
		d.mu.RUnlock()
		if err := w.flushIfFull(ctx); err != nil {
			return err
		}
	}
	if err := w.flush(ctx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqliteindex: commit: %w", err)
	}
	return nil
}

// batchWriter inserts postings with multi-row INSERTs.
type batchWriter struct {
	tx          *sql.Tx
	terms, toks []any
}

const batchRows = 300 // 900 parameters per statement

func (w *batchWriter) term(pid int64, v any, sid int64) { w.terms = append(w.terms, pid, v, sid) }
func (w *batchWriter) token(pid int64, t string, sid int64) {
	w.toks = append(w.toks, pid, t, sid)
}

func (w *batchWriter) flushIfFull(ctx context.Context) error {
	if len(w.terms) >= 3*batchRows || len(w.toks) >= 3*batchRows {
		return w.flush(ctx)
	}
	return nil
}

func (w *batchWriter) flush(ctx context.Context) error {
	for _, b := range []struct {
		table string
		args  *[]any
	}{{"insights_terms(pid, v, sid)", &w.terms}, {"insights_tokens(pid, tok, sid)", &w.toks}} {
		args := *b.args
		for len(args) > 0 {
			n := min(len(args)/3, batchRows)
			q := "INSERT OR IGNORE INTO " + b.table + " VALUES " + strings.TrimSuffix(strings.Repeat("(?,?,?),", n), ",")
			if _, err := w.tx.ExecContext(ctx, q, args[:3*n]...); err != nil {
				return fmt.Errorf("sqliteindex: insert postings: %w", err)
			}
			args = args[3*n:]
		}
		*b.args = (*b.args)[:0]
	}
	return nil
}

func deletePostings(ctx context.Context, tx *sql.Tx, sid int64) error {
	for _, q := range []string{`DELETE FROM insights_terms WHERE sid = ?`, `DELETE FROM insights_tokens WHERE sid = ?`} {
		if _, err := tx.ExecContext(ctx, q, sid); err != nil {
			return fmt.Errorf("sqliteindex: delete postings: %w", err)
		}
	}
	return nil
}

// Get implements driver.Driver.
func (d *Driver) Get(ctx context.Context, account, id string, from, to int64) ([]byte, error) {
	q := `SELECT doc FROM insights_sessions WHERE id = ? AND start BETWEEN ? AND ?`
	args := []any{id, from, to}
	if account != "" {
		q += ` AND account = ?`
		args = append(args, account)
	}
	return d.one(ctx, q+` ORDER BY sid LIMIT 1`, args...)
}

// Find implements driver.Driver.
func (d *Driver) Find(ctx context.Context, account, id string) ([]byte, error) {
	q := `SELECT doc FROM insights_sessions WHERE id = ?`
	args := []any{id}
	if account != "" {
		q += ` AND account = ?`
		args = append(args, account)
	}
	return d.one(ctx, q+` ORDER BY sid LIMIT 1`, args...)
}

func (d *Driver) one(ctx context.Context, q string, args ...any) ([]byte, error) {
	var doc []byte
	err := d.db.QueryRowContext(ctx, q, args...).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, driver.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqliteindex: %w", err)
	}
	return doc, nil
}

// Delete implements driver.Driver.
func (d *Driver) Delete(ctx context.Context, account, id string, from, to int64) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqliteindex: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	q := `DELETE FROM insights_sessions WHERE id = ? AND start BETWEEN ? AND ?`
	args := []any{id, from, to}
	if account != "" {
		q += ` AND account = ?`
		args = append(args, account)
	}
	rows, err := tx.QueryContext(ctx, q+` RETURNING sid`, args...)
	if err != nil {
		return fmt.Errorf("sqliteindex: delete: %w", err)
	}
	var sids []int64
	for rows.Next() {
		var sid int64
		if err := rows.Scan(&sid); err != nil {
			rows.Close()
			return fmt.Errorf("sqliteindex: delete: %w", err)
		}
		sids = append(sids, sid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqliteindex: delete: %w", err)
	}
	if len(sids) == 0 {
		return driver.ErrNotFound
	}
	for _, sid := range sids {
		if err := deletePostings(ctx, tx, sid); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Search implements driver.Driver with one count and one page query.
func (d *Driver) Search(ctx context.Context, q *driver.Query) (*driver.Result, error) {
	var b sqlBuilder
	where := b.where(d, q)
	var total int
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM insights_sessions s WHERE `+where, b.args...).Scan(&total); err != nil {
		return nil, fmt.Errorf("sqliteindex: count: %w", err)
	}
	res := &driver.Result{Total: total}
	if q.Offset >= total {
		return res, nil
	}
	order := b.order(d, q)
	b.args = append(b.args, q.Limit, q.Offset)
	rows, err := d.db.QueryContext(ctx, `SELECT s.doc FROM insights_sessions s WHERE `+where+` ORDER BY `+order+` LIMIT ? OFFSET ?`, b.args...)
	if err != nil {
		return nil, fmt.Errorf("sqliteindex: search: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("sqliteindex: search: %w", err)
		}
		res.Docs = append(res.Docs, doc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqliteindex: search: %w", err)
	}
	return res, nil
}

// sqlBuilder collects SQL text and its arguments.
type sqlBuilder struct {
	args []any
}

// clause returns a boolean SQL expression for one clause.
func (b *sqlBuilder) clause(d *Driver, c *driver.Clause) string {
	pid, ok := d.pid(c.Path)
	if !ok || len(c.Values) == 0 {
		return "0"
	}
	var vals []any
	table, col := "insights_terms", "v"
	if c.Kind == driver.Match {
		table, col = "insights_tokens", "tok"
		for _, v := range c.Values {
			vals = append(vals, v.Text)
		}
	} else {
		for _, v := range c.Values {
			vals = append(vals, probes(v)...)
		}
	}
	b.args = append(b.args, pid)
	b.args = append(b.args, vals...)
	return "s.sid IN (SELECT sid FROM " + table + " WHERE pid = ? AND " + col + " IN (" + strings.TrimSuffix(strings.Repeat("?,", len(vals)), ",") + "))"
}

func (b *sqlBuilder) where(d *Driver, q *driver.Query) string {
	parts := []string{"s.start BETWEEN ? AND ?"}
	b.args = append(b.args, q.From, q.To)
	if q.AccountID != "" {
		parts = append(parts, "s.account = ?")
		b.args = append(b.args, q.AccountID)
	}
	for i := range q.Must {
		parts = append(parts, b.clause(d, &q.Must[i]))
	}
	for i := range q.MustNot {
		parts = append(parts, "NOT "+b.clause(d, &q.MustNot[i]))
	}
	if q.MinimumShouldMatch > 0 && len(q.Should) > 0 {
		var or []string
		for i := range q.Should {
			or = append(or, b.clause(d, &q.Should[i]))
		}
		parts = append(parts, "("+strings.Join(or, " OR ")+")")
	}
	return strings.Join(parts, " AND ")
}

func (b *sqlBuilder) order(d *Driver, q *driver.Query) string {
	var keys []string
	for _, k := range q.Sort {
		dir := " ASC"
		agg := "min"
		if k.Desc {
			dir, agg = " DESC", "max"
		}
		switch k.Path {
		case driver.ScorePath:
			if len(q.Should) == 0 {
				continue // every score is 0
			}
			var sum []string
			for i := range q.Should {
				sum = append(sum, "("+b.clause(d, &q.Should[i])+")")
			}
			keys = append(keys, "("+strings.Join(sum, "+")+")"+dir)
		case "session_start_time":
			keys = append(keys, "s.start"+dir)
		case "id":
			keys = append(keys, "s.id"+dir)
		case "account_id":
			keys = append(keys, "NULLIF(s.account, '')"+dir+" NULLS LAST")
		default:
			pid, ok := d.pid(k.Path)
			if !ok {
				continue // nobody has the field
			}
			b.args = append(b.args, pid)
			keys = append(keys, "(SELECT "+agg+"(t.v) FROM insights_terms t WHERE t.sid = s.sid AND t.pid = ?)"+dir+" NULLS LAST")
		}
	}
	keys = append(keys, "s.sid")
	return strings.Join(keys, ", ")
}

// As implements driver.Driver: **sql.DB gives the database.
func (d *Driver) As(i any) bool {
	p, ok := i.(**sql.DB)
	if ok {
		*p = d.db
	}
	return ok
}

// Close implements driver.Driver; it closes the database if Open opened it.
func (d *Driver) Close() error {
	if !d.own {
		return nil
	}
	return d.db.Close()
}
