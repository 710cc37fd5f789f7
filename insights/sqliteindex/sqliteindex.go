// Package sqliteindex is the durable session index driver on SQLite
// (modernc.org/sqlite, pure Go, no cgo), opened through internal/sqlitedb
// (WAL, busy timeout, versioned migrations, files of mode 0600, a bounded
// number of connections).
//
// Constructors, as in every voicegw driver package: OpenIndex opens a
// database file and returns the portable *insights.Index (closing it closes
// the file); NewIndex does the same on a database opened by OpenDB and
// perhaps shared with other stores, which closing leaves open; OpenDriver
// and NewDriver return the driver itself.
//
// Schema: insights_sessions holds one row per session (account, id, start
// time in microseconds, the JSON document); insights_terms is an inverted
// index (path, typed value, session) of every leaf value, insights_tokens
// one of the analyzed tokens, both WITHOUT ROWID tables whose primary keys
// are the postings. insights_terms has a second index by session, for
// sorting on any field and for deletes; a session's tokens are deleted by
// their keys, which its row keeps (one index less to write at ingest).
//
// A query starts from its smallest source of candidates (the date range on
// the (account, start) index, the posting list of its most selective must
// clause, or the union of its should clauses), probes every other clause
// with EXISTS on a posting's primary key, sorts on columns or on the
// smallest/largest value of a path, and reads the documents of the page
// only. Writes are serialized within the process, and Puts that wait for
// the writer are written together in one transaction (group commit: an
// inverted index writes one B-tree page per posting, most of them shared
// by the documents of a group); the statements of the writes are prepared
// once.
//
// Values keep their JSON type in SQLite (INTEGER/REAL, TEXT, and BLOB for
// booleans), so sorting orders numbers numerically, and types sort numbers,
// strings, booleans, as driver.Compare does.
package sqliteindex

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/driver"
	"github.com/voicegw/voicegw/internal/sqlitedb"
)

// schemaV1 is version 1 of the schema, applied by sqlitedb.Migrate under
// the name "insights".
const schemaV1 = `
CREATE TABLE insights_sessions (
	sid     INTEGER PRIMARY KEY,
	account TEXT NOT NULL,
	id      TEXT NOT NULL,
	start   INTEGER NOT NULL,
	doc     BLOB NOT NULL,
	tokens  BLOB NOT NULL,
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
`

// MaxConns bounds the connections OpenDB keeps to one database (the same
// bound in every voicegw SQLite package).
const MaxConns = sqlitedb.MaxConns

// OpenDB opens (creating if needed) the SQLite database at path the way
// every voicegw store needs it (WAL journal, busy timeout, immediate
// transactions, files of mode 0600 whatever the directory's, at most
// MaxConns connections, kept open while idle), for NewIndex and
// NewDriver, and for the other voicegw SQLite packages (rbac/sqlitestore,
// tenancy/sqlitestore) that may share it. ":memory:" is a private in-memory
// database (one connection).
func OpenDB(ctx context.Context, path string) (*sql.DB, error) { return sqlitedb.Open(ctx, path) }

// OpenIndex opens (creating if needed) the database at path (":memory:"
// for a private in-memory one) and returns an index over it; closing the
// index closes the database.
func OpenIndex(ctx context.Context, path string) (*insights.Index, error) {
	d, err := OpenDriver(ctx, path)
	if err != nil {
		return nil, err
	}
	return insights.NewIndex(d), nil
}

// NewIndex returns an index over db, opened with OpenDB and perhaps shared
// with other voicegw stores; closing the index leaves db open.
func NewIndex(ctx context.Context, db *sql.DB) (*insights.Index, error) {
	d, err := NewDriver(ctx, db)
	if err != nil {
		return nil, err
	}
	return insights.NewIndex(d), nil
}

// OpenDriver is OpenIndex's driver itself, for conformance suites and
// wrapping; Close closes the database.
func OpenDriver(ctx context.Context, path string) (*Driver, error) {
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

// NewDriver is NewIndex's driver itself; Close leaves db open.
func NewDriver(ctx context.Context, db *sql.DB) (*Driver, error) {
	return newDriver(ctx, db, false)
}

func newDriver(ctx context.Context, db *sql.DB, own bool) (*Driver, error) {
	if err := sqlitedb.Migrate(ctx, db, "insights", []string{schemaV1}); err != nil {
		return nil, fmt.Errorf("sqliteindex: %w", err)
	}
	st, err := prepareStmts(ctx, db)
	if err != nil {
		return nil, err
	}
	d := &Driver{db: db, own: own, paths: map[string]int64{}, st: st, sized: map[any]struct{}{}}
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

	// wmu serializes this process's writes: SQLite has one writer, and a
	// connection waiting for the write lock holds a read snapshot that
	// keeps the WAL from being checkpointed, so it would grow without
	// bound under concurrent Puts.
	wmu sync.Mutex

	qmu   sync.Mutex   // guards queue
	queue []*putReq    // Puts waiting for wmu, written by the next writer
	txs   atomic.Int64 // write transactions of Put, for tests

	st *stmts

	cmu   sync.Mutex       // guards sized
	sized map[any]struct{} // driver connections whose page cache is set
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

// putReq is one Put waiting for the writer.
type putReq struct {
	ctx  context.Context
	docs []driver.Document
	done bool
	err  error
}

// Put implements driver.Driver. The documents of one call are written in
// one transaction. Calls made while another one writes are grouped: the
// next writer commits every call waiting in one transaction (a session
// index is written by many goroutines at once: one per call starting or
// ending), which writes each B-tree page the documents share once instead
// of once per call. When a group's transaction fails, each of its calls is
// written again alone, so a call fails only for its own documents (or its
// own context).
func (d *Driver) Put(ctx context.Context, docs []driver.Document) error {
	if len(docs) == 0 {
		return nil
	}
	req := &putReq{ctx: ctx, docs: docs}
	d.qmu.Lock()
	d.queue = append(d.queue, req)
	d.qmu.Unlock()
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if req.done { // written by the writer before this one
		return req.err
	}
	d.qmu.Lock()
	queued := d.queue
	d.queue = nil
	d.qmu.Unlock()
	group := queued[:0]
	for _, r := range queued {
		if err := r.ctx.Err(); err != nil { // given up while waiting
			r.err, r.done = fmt.Errorf("sqliteindex: %w", err), true
			continue
		}
		group = append(group, r)
	}
	// Whoever took the queue writes it, even when its own call was given
	// up: the others wait for their requests to be done.
	switch len(group) {
	case 0:
	case 1:
		d.txs.Add(1)
		r := group[0]
		r.err, r.done = d.put(r.ctx, r.docs), true
	default:
		all := make([]driver.Document, 0, len(docs)*len(group))
		for _, r := range group {
			all = append(all, r.docs...)
		}
		// the group's transaction is no one caller's: one cancelled
		// while it runs must not fail the others' documents
		d.txs.Add(1)
		if err := d.put(context.WithoutCancel(ctx), all); err == nil {
			for _, r := range group {
				r.done = true
			}
			break
		}
		for _, r := range group {
			d.txs.Add(1)
			r.err, r.done = d.put(r.ctx, r.docs), true
		}
	}
	return req.err
}

// put writes docs in one transaction; the caller holds wmu.
func (d *Driver) put(ctx context.Context, docs []driver.Document) error {
	if err := d.pathIDs(ctx, docs); err != nil {
		return fmt.Errorf("sqliteindex: %w", err)
	}
	conn, err := d.conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqliteindex: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	del := tx.StmtContext(ctx, d.st.replace)
	ins := tx.StmtContext(ctx, d.st.insert)
	w := &batchWriter{tx: tx, st: d.st}
	for i := range docs {
		doc := &docs[i]
		var old int64
		var oldTokens []byte
		switch err := del.QueryRowContext(ctx, doc.AccountID, doc.ID).Scan(&old, &oldTokens); {
		case err == nil:
			// The replaced session's postings may still be buffered.
			if err := w.flush(ctx); err != nil {
				return err
			}
			if err := deletePostings(ctx, tx, d.st, old, oldTokens); err != nil {
				return err
			}
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqliteindex: replace %q: %w", doc.ID, err)
		}
		d.mu.RLock()
		keys := tokenKeys(d.paths, doc.Tokens)
		d.mu.RUnlock()
		r, err := ins.ExecContext(ctx, doc.AccountID, doc.ID, doc.Start, doc.JSON, keys)
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

// stmts are the statements of the writes, prepared once on the database
// (database/sql prepares each on a connection the first time it runs
// there, and keeps it).
type stmts struct {
	replace, insert, delTerms, delToken *sql.Stmt
	// terms[i] and tokens[i] insert chunkRows[i] postings.
	terms, tokens [len(chunkRows)]*sql.Stmt
}

// chunkRows are the sizes of the multi-row posting INSERTs: a flush of n
// rows runs the largest that fit, so it needs few statements, each
// prepared once.
var chunkRows = [...]int{256, 64, 16, 4, 1}

func prepareStmts(ctx context.Context, db *sql.DB) (*stmts, error) {
	st := &stmts{}
	prep := func(dst **sql.Stmt, q string) error {
		s, err := db.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("sqliteindex: prepare %q: %w", q, err)
		}
		*dst = s
		return nil
	}
	if err := prep(&st.replace, `DELETE FROM insights_sessions WHERE account = ? AND id = ? RETURNING sid, tokens`); err != nil {
		return nil, err
	}
	if err := prep(&st.insert, `INSERT INTO insights_sessions(account, id, start, doc, tokens) VALUES (?, ?, ?, ?, ?)`); err != nil {
		st.close()
		return nil, err
	}
	if err := prep(&st.delTerms, `DELETE FROM insights_terms WHERE sid = ?`); err != nil {
		st.close()
		return nil, err
	}
	if err := prep(&st.delToken, `DELETE FROM insights_tokens WHERE pid = ? AND tok = ? AND sid = ?`); err != nil {
		st.close()
		return nil, err
	}
	for i, n := range chunkRows {
		rows := strings.TrimSuffix(strings.Repeat("(?,?,?),", n), ",")
		if err := prep(&st.terms[i], "INSERT OR IGNORE INTO insights_terms(pid, v, sid) VALUES "+rows); err != nil {
			st.close()
			return nil, err
		}
		if err := prep(&st.tokens[i], "INSERT OR IGNORE INTO insights_tokens(pid, tok, sid) VALUES "+rows); err != nil {
			st.close()
			return nil, err
		}
	}
	return st, nil
}

func (st *stmts) close() {
	all := []*sql.Stmt{st.replace, st.insert, st.delTerms, st.delToken}
	all = append(append(all, st.terms[:]...), st.tokens[:]...)
	for _, s := range all {
		if s != nil {
			_ = s.Close()
		}
	}
}

// batchWriter buffers postings and inserts them in key order (B-tree
// pages are then written in sequence, not at random), without duplicates,
// with multi-row INSERTs.
type batchWriter struct {
	tx    *sql.Tx
	st    *stmts
	terms []termRow
	toks  []tokenRow
}

type termRow struct {
	pid int64
	v   any
	sid int64
}

type tokenRow struct {
	pid int64
	tok string
	sid int64
}

// flushRows is the number of postings buffered before a flush.
const flushRows = 200_000

func (w *batchWriter) term(pid int64, v any, sid int64) {
	w.terms = append(w.terms, termRow{pid, v, sid})
}

func (w *batchWriter) token(pid int64, t string, sid int64) {
	w.toks = append(w.toks, tokenRow{pid, t, sid})
}

func (w *batchWriter) flushIfFull(ctx context.Context) error {
	if len(w.terms)+len(w.toks) >= flushRows {
		return w.flush(ctx)
	}
	return nil
}

// class orders SQLite storage classes: numbers, text, blobs.
func class(v any) int {
	switch v.(type) {
	case int64, float64:
		return 0
	case string:
		return 1
	}
	return 2
}

// compareSQL orders two values as SQLite does (BINARY collation).
func compareSQL(a, b any) int {
	if ca, cb := class(a), class(b); ca != cb {
		return cmp.Compare(ca, cb)
	}
	switch x := a.(type) {
	case int64:
		if y, ok := b.(int64); ok {
			return cmp.Compare(x, y)
		}
		return cmp.Compare(float64(x), b.(float64))
	case float64:
		if y, ok := b.(int64); ok {
			return cmp.Compare(x, float64(y))
		}
		return cmp.Compare(x, b.(float64))
	case string:
		return strings.Compare(x, b.(string))
	}
	return bytes.Compare(a.([]byte), b.([]byte))
}

func (w *batchWriter) flush(ctx context.Context) error {
	slices.SortFunc(w.terms, func(a, b termRow) int {
		return cmp.Or(cmp.Compare(a.pid, b.pid), compareSQL(a.v, b.v), cmp.Compare(a.sid, b.sid))
	})
	w.terms = slices.CompactFunc(w.terms, func(a, b termRow) bool {
		return a.pid == b.pid && a.sid == b.sid && compareSQL(a.v, b.v) == 0
	})
	slices.SortFunc(w.toks, func(a, b tokenRow) int {
		return cmp.Or(cmp.Compare(a.pid, b.pid), strings.Compare(a.tok, b.tok), cmp.Compare(a.sid, b.sid))
	})
	w.toks = slices.Compact(w.toks)
	args := make([]any, 0, 3*min(max(len(w.terms), len(w.toks)), chunkRows[0]))
	// insert runs the multi-row INSERTs of stmts over rows postings, the
	// largest chunks first; row(i) appends the arguments of posting i.
	insert := func(stmts *[len(chunkRows)]*sql.Stmt, rows int, row func(i int)) error {
		next := 0
		for i, n := range chunkRows {
			var st *sql.Stmt
			for rows-next >= n {
				if st == nil {
					st = w.tx.StmtContext(ctx, stmts[i])
				}
				args = args[:0]
				for j := next; j < next+n; j++ {
					row(j)
				}
				if _, err := st.ExecContext(ctx, args...); err != nil {
					return fmt.Errorf("sqliteindex: insert postings: %w", err)
				}
				next += n
			}
		}
		return nil
	}
	if err := insert(&w.st.terms, len(w.terms), func(i int) {
		r := &w.terms[i]
		args = append(args, r.pid, r.v, r.sid)
	}); err != nil {
		return err
	}
	if err := insert(&w.st.tokens, len(w.toks), func(i int) {
		r := &w.toks[i]
		args = append(args, r.pid, r.tok, r.sid)
	}); err != nil {
		return err
	}
	w.terms, w.toks = w.terms[:0], w.toks[:0]
	return nil
}

// tokenKeys encodes the (path ID, token) keys of a session's tokens:
// uvarint path ID, uvarint length, token bytes, repeated.
func tokenKeys(paths map[string]int64, tokens []driver.Field) []byte {
	b := make([]byte, 0, 16*len(tokens))
	for _, f := range tokens {
		b = binary.AppendUvarint(b, uint64(paths[f.Path]))
		b = binary.AppendUvarint(b, uint64(len(f.Value.Text)))
		b = append(b, f.Value.Text...)
	}
	return b
}

// deletePostings removes a session's terms (by the session index) and
// tokens (by their keys).
func deletePostings(ctx context.Context, tx *sql.Tx, st *stmts, sid int64, keys []byte) error {
	if _, err := tx.StmtContext(ctx, st.delTerms).ExecContext(ctx, sid); err != nil {
		return fmt.Errorf("sqliteindex: delete postings: %w", err)
	}
	delToken := tx.StmtContext(ctx, st.delToken)
	for len(keys) > 0 {
		pid, n := binary.Uvarint(keys)
		if n <= 0 {
			return errors.New("sqliteindex: corrupt token keys")
		}
		keys = keys[n:]
		l, n := binary.Uvarint(keys)
		if n <= 0 || uint64(len(keys)-n) < l {
			return errors.New("sqliteindex: corrupt token keys")
		}
		tok := string(keys[n : n+int(l)])
		keys = keys[n+int(l):]
		if _, err := delToken.ExecContext(ctx, int64(pid), tok, sid); err != nil {
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
	d.wmu.Lock()
	defer d.wmu.Unlock()
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
	rows, err := tx.QueryContext(ctx, q+` RETURNING sid, tokens`, args...)
	if err != nil {
		return fmt.Errorf("sqliteindex: delete: %w", err)
	}
	var sids []int64
	var keys [][]byte
	for rows.Next() {
		var sid int64
		var k []byte
		if err := rows.Scan(&sid, &k); err != nil {
			rows.Close()
			return fmt.Errorf("sqliteindex: delete: %w", err)
		}
		sids, keys = append(sids, sid), append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqliteindex: delete: %w", err)
	}
	if len(sids) == 0 {
		return driver.ErrNotFound
	}
	for i, sid := range sids {
		if err := deletePostings(ctx, tx, d.st, sid, keys[i]); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// rangeCap bounds the counting of the date range when choosing where a
// query starts.
const rangeCap = 50000

// Search implements driver.Driver. Like the in-memory driver it starts from
// the smallest source of candidates: the date range (index on account and
// start), the posting list of the most selective must clause, or the union
// of the should clauses when one is required; sizes are counted with a cap
// first. Every other clause is an EXISTS probe of a posting's primary key.
func (d *Driver) Search(ctx context.Context, q *driver.Query) (*driver.Result, error) {
	conn, err := d.conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	src, err := d.source(ctx, conn, q)
	if err != nil {
		return nil, fmt.Errorf("sqliteindex: search: %w", err)
	}
	var b sqlBuilder
	from := b.from(d, q, src)
	where := b.where(d, q, src)
	total := 0
	if q.Offset > 0 {
		// A later page: count first, since the page may be past the end.
		if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM `+from+` WHERE `+where, b.args...).Scan(&total); err != nil {
			return nil, fmt.Errorf("sqliteindex: count: %w", err)
		}
		if q.Offset >= total {
			return &driver.Result{Total: total}, nil
		}
	}
	order := b.order(d, q)
	b.args = append(b.args, q.Limit, q.Offset)
	// The first page gets its sessions and the total in one pass (a window
	// over every match); the documents are read for the page only.
	cols := "s.sid, count(*) OVER ()"
	if q.Offset > 0 {
		cols = "s.sid, " + strconv.Itoa(total)
	}
	rows, err := conn.QueryContext(ctx, `SELECT `+cols+` FROM `+from+` WHERE `+where+` ORDER BY `+order+` LIMIT ? OFFSET ?`, b.args...)
	if err != nil {
		return nil, fmt.Errorf("sqliteindex: search: %w", err)
	}
	var sids []any
	for rows.Next() {
		var sid int64
		if err := rows.Scan(&sid, &total); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqliteindex: search: %w", err)
		}
		sids = append(sids, sid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqliteindex: search: %w", err)
	}
	res := &driver.Result{Total: total}
	if len(sids) == 0 {
		return res, nil
	}
	docs := make(map[int64][]byte, len(sids))
	rows, err = conn.QueryContext(ctx, `SELECT sid, doc FROM insights_sessions WHERE sid IN (`+placeholders(len(sids))+`)`, sids...)
	if err != nil {
		return nil, fmt.Errorf("sqliteindex: search: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sid int64
		var doc []byte
		if err := rows.Scan(&sid, &doc); err != nil {
			return nil, fmt.Errorf("sqliteindex: search: %w", err)
		}
		docs[sid] = doc
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqliteindex: search: %w", err)
	}
	for _, sid := range sids {
		if doc, ok := docs[sid.(int64)]; ok { // else deleted meanwhile
			res.Docs = append(res.Docs, doc)
		}
	}
	return res, nil
}

// Where a query starts: the date range, a must clause, or the should union.
const (
	fromRange  = -1
	fromShould = -2
)

// source picks the smallest source of candidates. It counts the postings
// of at most maxSourceProbes must clauses (any one of them is a correct
// source; the first few are enough to find a selective one).
func (d *Driver) source(ctx context.Context, conn *sql.Conn, q *driver.Query) (int, error) {
	if len(q.Must) == 0 && (q.MinimumShouldMatch == 0 || len(q.Should) == 0) {
		return fromRange, nil
	}
	var b sqlBuilder
	rq := `SELECT count(*) FROM (SELECT 1 FROM insights_sessions s WHERE ` + b.rangeCond(q) + ` LIMIT ?)`
	var best int
	if err := conn.QueryRowContext(ctx, rq, append(b.args, rangeCap)...).Scan(&best); err != nil {
		return 0, err
	}
	src := fromRange
	count := func(sub string, args []any) (int, error) {
		var n int
		err := conn.QueryRowContext(ctx, `SELECT count(*) FROM (`+sub+` LIMIT ?)`, append(args, best)...).Scan(&n)
		return n, err
	}
	for i := range q.Must {
		var cb sqlBuilder
		sub, ok := cb.posting(d, &q.Must[i])
		if !ok {
			return i, nil // nothing can match: start from the empty clause
		}
		if i >= maxSourceProbes {
			continue // still checked for clauses that cannot match
		}
		n, err := count(sub, cb.args)
		if err != nil {
			return 0, err
		}
		if n < best {
			best, src = n, i
		}
	}
	if len(q.Must) == 0 {
		var cb sqlBuilder
		sub, ok := cb.shouldUnion(d, q)
		if !ok {
			return fromShould, nil
		}
		n, err := count(sub, cb.args)
		if err != nil {
			return 0, err
		}
		if n < best {
			src = fromShould
		}
	}
	return src, nil
}

// conn returns a connection with a page cache fit for large indexes (set
// once per connection: the pool keeps its connections).
func (d *Driver) conn(ctx context.Context) (*sql.Conn, error) {
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqliteindex: %w", err)
	}
	var dc any
	_ = conn.Raw(func(c any) error { dc = c; return nil })
	d.cmu.Lock()
	_, sized := d.sized[dc]
	d.cmu.Unlock()
	if sized {
		return conn, nil
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA cache_size = -65536`); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("sqliteindex: %w", err)
	}
	d.cmu.Lock()
	if len(d.sized) >= 4*MaxConns { // connections replaced after errors: forget the old ones
		clear(d.sized)
	}
	d.sized[dc] = struct{}{}
	d.cmu.Unlock()
	return conn, nil
}

// sqlBuilder collects SQL text and its arguments.
type sqlBuilder struct {
	args []any
}

// posting returns a SELECT of the session IDs a clause names; ok is false
// when no session can match (an unknown path, a match without tokens).
func (b *sqlBuilder) posting(d *Driver, c *driver.Clause) (string, bool) {
	pid, ok := d.pid(c.Path)
	if !ok || len(c.Values) == 0 {
		return "", false
	}
	table, col, vals := clauseValues(c)
	b.args = append(b.args, pid)
	return "SELECT sid FROM " + table + " WHERE pid = ? AND " + col + " IN " + b.list(vals), true
}

// exists returns a boolean SQL expression: does session s match c.
func (b *sqlBuilder) exists(d *Driver, c *driver.Clause) string {
	pid, ok := d.pid(c.Path)
	if !ok || len(c.Values) == 0 {
		return "0"
	}
	table, col, vals := clauseValues(c)
	b.args = append(b.args, pid)
	return "EXISTS (SELECT 1 FROM " + table + " p WHERE p.pid = ? AND p." + col + " IN " + b.list(vals) + " AND p.sid = s.sid)"
}

// SQLite's limits that a query at insights.MaxClauses would pass (see
// SQLITE_MAX_COMPOUND_SELECT, SQLITE_MAX_EXPR_DEPTH and
// SQLITE_MAX_VARIABLE_NUMBER in https://sqlite.org/limits.html), and how
// the SQL stays within them.
const (
	// maxCompound bounds the SELECTs of one UNION (SQLite: 500); more are
	// nested as UNIONs of UNIONs.
	maxCompound = 250
	// maxChain bounds the operands of one AND, OR or + chain, which SQLite
	// parses into a tree as deep as the chain is long (at most 1000
	// levels); longer chains are split into parenthesized groups.
	maxChain = 64
	// maxListParams bounds the values of an IN list passed as one
	// parameter each; longer lists (the tokens of a long match text) are
	// passed as one JSON array, so that MaxClauses clauses of any length
	// stay under SQLite's 32,766 parameters.
	maxListParams = 8
)

// list returns an IN list of vals: placeholders, or a JSON array read with
// json_each when the list is long and holds only text (tokens).
func (b *sqlBuilder) list(vals []any) string {
	if len(vals) > maxListParams {
		texts := make([]string, 0, len(vals))
		for _, v := range vals {
			t, ok := v.(string)
			if !ok {
				texts = nil
				break
			}
			texts = append(texts, t)
		}
		if texts != nil {
			j, _ := json.Marshal(texts) // strings always marshal
			b.args = append(b.args, string(j))
			return "(SELECT value FROM json_each(?))"
		}
	}
	b.args = append(b.args, vals...)
	return "(" + placeholders(len(vals)) + ")"
}

// chain joins parts with op (" AND ", " OR ", " + ") as a tree of
// parenthesized groups of at most maxChain operands, so that its depth
// stays far below SQLite's limit whatever the number of parts.
func chain(parts []string, op string) string {
	for len(parts) > maxChain {
		var groups []string
		for i := 0; i < len(parts); i += maxChain {
			groups = append(groups, "("+strings.Join(parts[i:min(i+maxChain, len(parts))], op)+")")
		}
		parts = groups
	}
	return strings.Join(parts, op)
}

// maxClauseList is the longest must, must_not or should list compiled one
// subquery per clause. SQLite opens a cursor per subquery and finds a
// cursor's place in a list of all open ones, so a thousand subqueries cost
// a thousand times a thousand; longer lists are compiled as clauseGroups,
// one subquery per posting table and path.
const maxClauseList = 16

// maxSourceProbes bounds the must clauses whose postings source counts.
const maxSourceProbes = 16

// clauseGroup is the distinct clauses of a list that probe one posting
// table at one path, with how often the list repeats each.
type clauseGroup struct {
	table, col string
	pid        int64
	vals       [][]any // per distinct clause, the SQL values it matches
	weights    []int   // per distinct clause, its number in the list
}

// groups returns the distinct clauses of cs grouped by table and path;
// never reports a clause that no session can match (an unknown path, a
// match without tokens), which groups leave out.
func (d *Driver) groups(cs []driver.Clause) (gs []clauseGroup, never bool) {
	type at struct {
		table string
		pid   int64
	}
	byAt := map[at]int{}
	seen := map[string][2]int{} // clause key → group, index in group
	for i := range cs {
		c := &cs[i]
		pid, ok := d.pid(c.Path)
		if !ok || len(c.Values) == 0 {
			never = true
			continue
		}
		table, col, vals := clauseValues(c)
		key := fmt.Sprint(c.Kind, "\x00", c.Path)
		for _, v := range c.Values {
			key += "\x00" + v.Text
		}
		if pos, dup := seen[key]; dup {
			gs[pos[0]].weights[pos[1]]++
			continue
		}
		g, ok := byAt[at{table, pid}]
		if !ok {
			g = len(gs)
			byAt[at{table, pid}] = g
			gs = append(gs, clauseGroup{table: table, col: col, pid: pid})
		}
		seen[key] = [2]int{g, len(gs[g].vals)}
		gs[g].vals = append(gs[g].vals, vals)
		gs[g].weights = append(gs[g].weights, 1)
	}
	return gs, never
}

// anyOf returns a boolean SQL expression: session s matches some clause
// of g. The postings are read once for the query (an uncorrelated IN), not
// once per session.
func (b *sqlBuilder) anyOf(g *clauseGroup) string {
	return "s.sid IN (" + b.anyPosting(g) + ")"
}

// anyPosting returns a SELECT of the sessions matching some clause of g.
func (b *sqlBuilder) anyPosting(g *clauseGroup) string {
	var all []any
	for _, v := range g.vals {
		all = append(all, v...)
	}
	b.args = append(b.args, g.pid)
	return "SELECT sid FROM " + g.table + " WHERE pid = ? AND " + g.col + " IN " + b.list(all)
}

// matched returns a SELECT of the sessions matching some clause of g, one
// row per session (sid) and distinct clause it matches (c, with its weight
// w): a table of (value, clause, weight) rows joined to the postings, once
// for the query. Tokens (text only) travel as one JSON parameter, so that
// long match texts stay within SQLite's parameter limit; term values keep
// their SQL types as VALUES rows.
func (b *sqlBuilder) matched(g *clauseGroup) string {
	var with, m string
	if g.table == "insights_tokens" {
		var rows [][3]any
		for i, vals := range g.vals {
			for _, v := range vals {
				rows = append(rows, [3]any{v, i, g.weights[i]})
			}
		}
		j, _ := json.Marshal(rows) // tokens and ints always marshal
		b.args = append(b.args, string(j))
		// Materialized: each element parsed once, not once per posting.
		with = "WITH m AS MATERIALIZED (SELECT value->>0 AS column1, value->>1 AS column2, value->>2 AS column3 FROM json_each(?)) "
		m = "m"
	} else {
		var rows []string
		for i, vals := range g.vals {
			for _, v := range vals {
				rows = append(rows, "(?, ?, ?)")
				b.args = append(b.args, v, i, g.weights[i])
			}
		}
		m = "(VALUES " + strings.Join(rows, ", ") + ")"
	}
	b.args = append(b.args, g.pid)
	// CROSS JOIN keeps m the outer loop: each row read once, its postings
	// found by the primary key (pid, value).
	return with + "SELECT DISTINCT p.sid AS sid, m.column2 AS c, m.column3 AS w FROM " + m + " m CROSS JOIN " +
		g.table + " p ON p.pid = ? AND p." + g.col + " = m.column1"
}

// allOf returns a boolean SQL expression: session s matches every clause
// of g.
func (b *sqlBuilder) allOf(g *clauseGroup) string {
	return "s.sid IN (SELECT sid FROM (" + b.matched(g) + ") GROUP BY sid HAVING count(*) = " + strconv.Itoa(len(g.vals)) + ")"
}

// scoreJoins returns the LEFT JOINs that give each session its score from
// a long should list, one table sc<i> (sid, score) per group, when the
// query sorts by score; order sums them. Repeated clauses count as often
// as the list has them.
func (b *sqlBuilder) scoreJoins(d *Driver, q *driver.Query) string {
	if len(q.Should) <= maxClauseList || !slices.ContainsFunc(q.Sort, func(k driver.SortKey) bool { return k.Path == driver.ScorePath }) {
		return ""
	}
	gs, _ := d.groups(q.Should)
	var out strings.Builder
	for i := range gs {
		n := strconv.Itoa(i)
		out.WriteString(" LEFT JOIN (SELECT sid, total(w) AS score FROM (" + b.matched(&gs[i]) + ") GROUP BY sid) sc" + n + " ON sc" + n + ".sid = s.sid")
	}
	return out.String()
}

// shouldUnion returns a SELECT of the sessions matching some should
// clause; ok is false when none can match.
func (b *sqlBuilder) shouldUnion(d *Driver, q *driver.Query) (string, bool) {
	var subs []string
	if len(q.Should) > maxClauseList {
		gs, _ := d.groups(q.Should)
		for i := range gs {
			subs = append(subs, b.anyPosting(&gs[i]))
		}
	} else {
		for i := range q.Should {
			if sub, ok := b.posting(d, &q.Should[i]); ok {
				subs = append(subs, sub)
			}
		}
	}
	if len(subs) == 0 {
		return "", false
	}
	return union(subs), true
}

// union returns the UNION of SELECTs of one sid column, nested so that no
// compound has more than maxCompound members.
func union(subs []string) string {
	for len(subs) > maxCompound {
		var groups []string
		for i := 0; i < len(subs); i += maxCompound {
			groups = append(groups, "SELECT sid FROM ("+strings.Join(subs[i:min(i+maxCompound, len(subs))], " UNION ")+")")
		}
		subs = groups
	}
	return strings.Join(subs, " UNION ")
}

func clauseValues(c *driver.Clause) (table, col string, vals []any) {
	if c.Kind == driver.Match {
		for _, v := range c.Values {
			vals = append(vals, v.Text)
		}
		return "insights_tokens", "tok", vals
	}
	for _, v := range c.Values {
		vals = append(vals, probes(v)...)
	}
	return "insights_terms", "v", vals
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

func (b *sqlBuilder) rangeCond(q *driver.Query) string {
	if q.AccountID != "" {
		b.args = append(b.args, q.AccountID, q.From, q.To)
		return "s.account = ? AND s.start BETWEEN ? AND ?"
	}
	b.args = append(b.args, q.From, q.To)
	return "s.start BETWEEN ? AND ?"
}

// from returns the FROM clause: the sessions, or a posting joined to them.
func (b *sqlBuilder) from(d *Driver, q *driver.Query, src int) string {
	var sub string
	switch src {
	case fromShould:
		if u, ok := b.shouldUnion(d, q); ok {
			// A posting lists a session once per matching value (a match
			// clause's tokens); UNION removes repeats only between clauses.
			sub = "SELECT DISTINCT sid FROM (" + u + ")"
		}
	case fromRange:
	default:
		if p, ok := b.posting(d, &q.Must[src]); ok {
			sub = "SELECT DISTINCT sid FROM (" + p + ")"
		}
	}
	if sub == "" {
		return "insights_sessions s" + b.scoreJoins(d, q)
	}
	return "(" + sub + ") c CROSS JOIN insights_sessions s ON s.sid = c.sid" + b.scoreJoins(d, q)
}

func (b *sqlBuilder) where(d *Driver, q *driver.Query, src int) string {
	parts := []string{b.rangeCond(q)}
	if len(q.Must) > maxClauseList {
		// The source clause is checked again with the others: harmless.
		gs, never := d.groups(q.Must)
		if never {
			return "0"
		}
		for i := range gs {
			parts = append(parts, b.allOf(&gs[i]))
		}
	} else {
		for i := range q.Must {
			if i == src {
				if _, ok := d.pid(q.Must[i].Path); ok && len(q.Must[i].Values) > 0 {
					continue // the source itself
				}
			}
			parts = append(parts, b.exists(d, &q.Must[i]))
		}
	}
	if len(q.MustNot) > maxClauseList {
		gs, _ := d.groups(q.MustNot)
		for i := range gs {
			parts = append(parts, "NOT "+b.anyOf(&gs[i]))
		}
	} else {
		for i := range q.MustNot {
			parts = append(parts, "NOT "+b.exists(d, &q.MustNot[i]))
		}
	}
	if q.MinimumShouldMatch > 0 && len(q.Should) > 0 && src != fromShould {
		var or []string
		if len(q.Should) > maxClauseList {
			gs, _ := d.groups(q.Should)
			for i := range gs {
				or = append(or, b.anyOf(&gs[i]))
			}
			if len(or) == 0 {
				or = append(or, "0")
			}
		} else {
			for i := range q.Should {
				or = append(or, b.exists(d, &q.Should[i]))
			}
		}
		parts = append(parts, "("+chain(or, " OR ")+")")
	}
	if src == fromShould {
		any := false
		for i := range q.Should {
			if _, ok := d.pid(q.Should[i].Path); ok && len(q.Should[i].Values) > 0 {
				any = true
			}
		}
		if !any {
			parts = append(parts, "0")
		}
	}
	return chain(parts, " AND ")
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
			if len(q.Should) > maxClauseList {
				gs, _ := d.groups(q.Should) // as scoreJoins joined them
				for i := range gs {
					sum = append(sum, "coalesce(sc"+strconv.Itoa(i)+".score, 0)")
				}
				if len(sum) == 0 {
					continue // nothing can match: every score is 0
				}
			} else {
				for i := range q.Should {
					sum = append(sum, b.exists(d, &q.Should[i]))
				}
			}
			keys = append(keys, "("+chain(sum, " + ")+")"+dir)
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

// Close implements driver.Driver; it closes the database if OpenDriver (or
// OpenIndex) opened it.
func (d *Driver) Close() error {
	d.st.close()
	if !d.own {
		return nil
	}
	return d.db.Close()
}
