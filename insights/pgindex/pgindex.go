// Package pgindex is the session index driver on PostgreSQL
// (github.com/jackc/pgx/v5), for gateways on several hosts that share one
// record of sessions: a call recorded by one is found through the Insights
// API of any other.
//
// Constructors, as in every voicegw driver package: OpenIndex opens a pool
// to the database named by a connection string and returns the portable
// *insights.Index (closing it closes the pool); NewIndex does the same on a
// pool opened by OpenPool and perhaps shared with other stores, which
// closing leaves open; OpenDriver and NewDriver return the driver itself.
// The schema is applied when the index opens, in versioned steps, under an
// advisory lock.
//
// # Schema
//
// insights_sessions holds one row per session: account, id, start time in
// microseconds, the document as given (type json: its own bytes, returned
// as is, and readable in SQL with ->, ->> or ::jsonb), its facets (see
// keys.go), and keys, a bytea[] of every
// distinct leaf value and every distinct analyzed token of the document
// (see keys.go for their encoding), indexed by GIN. The tokens are those of
// insights.Analyze, computed by the portable type, not PostgreSQL's text
// search dictionaries, so a match clause finds exactly what it finds in
// insights/memindex and insights/sqliteindex. Paths are numbered in
// insights_paths (a key starts with its path's number), shared by every
// process of the database. B-tree indexes on (account, start), start and id
// serve the date range, the sort on time and Get/Find. The facets of
// status, agent_id and channel_data.duration have columns of their own too
// (f_status, f_agent_id, f_duration: text[], the same values), which the
// index on start and one on (account, start) cover: an aggregation
// grouping or averaging by them over a date range, of every account or
// one, reads an index only (schema versions 2 and 5; the migration to 2
// fills them for the sessions already stored, rewriting each row once; 5
// builds an index, holding off writes to the table while it does: 7.7 s
// for 1.67 million sessions, BENCHMARKS.md).
//
// Upgrading a database with sessions to schema 2: the migration rewrites
// insights_sessions in one transaction holding the table's ACCESS
// EXCLUSIVE lock (ADD COLUMN) and the migration advisory lock, so every
// Put, Search and Aggregate on it, and every other gateway starting
// meanwhile, waits until it ends, and the table needs about its size again
// in free disk; a start killed midway rolls it back and the next start
// does it again. The columns are filled by Put, not by the database: stop
// the gateways of older versions before the first one of schema 2 starts,
// or sessions they store afterwards lack the columns: they are left out of
// aggregations by status, agent_id and duration, and sort as if they had
// no value there.
//
// Upgrading a large database to schema 5: its index is built by the
// migration while writes to insights_sessions wait (7.7 s for 1.67 million
// sessions). An operator can build it beforehand, while the gateways run,
// with
//
//	CREATE INDEX CONCURRENTLY insights_sessions_account_start_dims ON insights_sessions (account, start) INCLUDE (f_status, f_agent_id, f_duration);
//
// (not in a transaction; psql runs it as it is): the migration, which
// creates it only if no index of that name exists, then finds it and holds
// writes only briefly. A CONCURRENTLY build that fails leaves an INVALID
// index of that name, which the migration would keep: drop it
// (DROP INDEX CONCURRENTLY insights_sessions_account_start_dims) and build
// it again.
//
// # Queries
//
// A query is one statement: the date range (and account) on the b-tree,
// the must clauses as GIN conditions on keys (the clauses of one key each
// folded into one @> containment, the others one && overlap each), the
// must_not clauses as one NOT &&, the should clauses (when one is required)
// as one &&; PostgreSQL's planner picks where to start from the statistics
// of keys' elements. Sorting on session_start_time, id and account_id reads
// columns (id and account kept in the row since schema version 4: every
// sort breaks ties by them), on status, agent_id and channel_data.duration
// their dimension columns, on any other ID field its facets, on any other
// path the smallest (ascending) or largest (descending) of the document's
// keys of that path; each orders as driver.Compare orders values. The
// first page gets its rows and the total in one pass; the documents of the
// page only are read.
package pgindex

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/driver"
	"github.com/voicegw/voicegw/internal/pgdb"
)

// SchemaName versions the schema in the database's schema_versions table.
const SchemaName = "insights"

var schema = []string{`
CREATE TABLE insights_paths (
	pid  integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	path text COLLATE "C" NOT NULL CONSTRAINT insights_paths_path_key UNIQUE
);
CREATE TABLE insights_sessions (
	sid     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	start   bigint NOT NULL,
	account text COLLATE "C" NOT NULL,
	id      text COLLATE "C" NOT NULL,
	keys    bytea[] NOT NULL,
	facets  jsonb NOT NULL,
	doc     json NOT NULL,
	CONSTRAINT insights_sessions_account_id_key UNIQUE (account, id)
);
COMMENT ON COLUMN insights_sessions.start IS 'session_start_time, microseconds since the Unix epoch';
COMMENT ON COLUMN insights_sessions.keys IS 'uvarint(insights_paths.pid) | kind | month | value: every leaf value (kinds 1 number, 2 string, 3 bool) and analyzed token (kind 4)';
COMMENT ON COLUMN insights_sessions.facets IS '{"<insights_paths.pid>": ["<kind digit><value, ordered as C text>", ...]}: the values of ID fields, numbers and booleans';
-- Rows stay narrow (documents and keys out of line, facets in line): scans
-- that read facets, starts and accounts read few pages.
ALTER TABLE insights_sessions SET (toast_tuple_target = 256);
ALTER TABLE insights_sessions ALTER COLUMN facets SET STORAGE MAIN;
CREATE INDEX insights_sessions_account_start ON insights_sessions (account, start);
CREATE INDEX insights_sessions_start ON insights_sessions (start);
CREATE INDEX insights_sessions_id ON insights_sessions (id);
CREATE INDEX insights_sessions_keys ON insights_sessions USING gin (keys);`,
	// 2: dimension columns (see dimPaths), filled from the facets of the
	// sessions already stored, and the start index covering them: an
	// aggregation over a date range reads that index only.
	`
ALTER TABLE insights_sessions ADD COLUMN f_status text[] COLLATE "C", ADD COLUMN f_agent_id text[] COLLATE "C", ADD COLUMN f_duration text[] COLLATE "C";
-- In the row: with toast_tuple_target 256 the default (extended) moved
-- these small arrays to the TOAST table, one fetch each per session read
-- (100 µs and more a session in an aggregation). MAIN, not PLAIN: a value
-- past a page must not fail the UPDATE below (see step 3).
ALTER TABLE insights_sessions ALTER COLUMN f_status SET STORAGE MAIN, ALTER COLUMN f_agent_id SET STORAGE MAIN, ALTER COLUMN f_duration SET STORAGE MAIN;
COMMENT ON COLUMN insights_sessions.f_status IS 'the facets of status (as in facets), NULL when none';
COMMENT ON COLUMN insights_sessions.f_agent_id IS 'the facets of agent_id (as in facets), NULL when none';
COMMENT ON COLUMN insights_sessions.f_duration IS 'the facets of channel_data.duration (as in facets), NULL when none';
WITH p AS (SELECT
	(SELECT pid::text FROM insights_paths WHERE path = 'status') AS st,
	(SELECT pid::text FROM insights_paths WHERE path = 'agent_id') AS ag,
	(SELECT pid::text FROM insights_paths WHERE path = 'channel_data.duration') AS du)
UPDATE insights_sessions s SET
	f_status = CASE WHEN s.facets ? p.st THEN ARRAY(SELECT e FROM jsonb_array_elements_text(s.facets->p.st) WITH ORDINALITY x(e, i) ORDER BY i) END,
	f_agent_id = CASE WHEN s.facets ? p.ag THEN ARRAY(SELECT e FROM jsonb_array_elements_text(s.facets->p.ag) WITH ORDINALITY x(e, i) ORDER BY i) END,
	f_duration = CASE WHEN s.facets ? p.du THEN ARRAY(SELECT e FROM jsonb_array_elements_text(s.facets->p.du) WITH ORDINALITY x(e, i) ORDER BY i) END
FROM p WHERE s.facets ?| array_remove(ARRAY[p.st, p.ag, p.du], NULL);
DROP INDEX IF EXISTS insights_sessions_start;
CREATE INDEX insights_sessions_start ON insights_sessions (start) INCLUDE (account, f_status, f_agent_id, f_duration);`,
	// 3: for databases migrated by step 2's first version (PLAIN, never
	// released): the dimension columns stored MAIN (as facets):
	// still in the row, uncompressed below toast_tuple_target in the
	// common case, but a value past a page (an agent_id of 9 kB) is
	// compressed or moved out instead of failing the Put ("row is too
	// big", a whole COPY batch with it). Future rows only: no rewrite.
	`
ALTER TABLE insights_sessions ALTER COLUMN f_status SET STORAGE MAIN, ALTER COLUMN f_agent_id SET STORAGE MAIN, ALTER COLUMN f_duration SET STORAGE MAIN;`,
	// 4: id and account in the row (MAIN, as facets). With the default
	// (extended) and toast_tuple_target 256, a row whose facets keep it
	// above 256 bytes had its 36-byte id moved to the TOAST table too: a
	// sort that breaks ties by id (every search: insights.Compile adds
	// id and account_id) fetched it from TOAST at each comparison, about
	// 18 buffer reads per matching session (BENCHMARKS.md). Future rows
	// only: no rewrite (VACUUM FULL, or an UPDATE writing a new value —
	// SET id = id || '', not id = id, which keeps the TOAST pointer —
	// moves stored ids back into their rows).
	`
ALTER TABLE insights_sessions ALTER COLUMN id SET STORAGE MAIN, ALTER COLUMN account SET STORAGE MAIN;`,
	// 5: an aggregation of one account reads an index only too: (account,
	// start) covering the dimension columns. Without it, the plan was a
	// bitmap scan of the heap (an account's sessions are spread over most
	// of its pages). The slim (account, start) index stays: counts and
	// day histograms of every account scan it, a fifth of this one's size.
	// IF NOT EXISTS: an operator with a large table builds it beforehand
	// without holding off writes (see the package doc, "Upgrading").
	`
CREATE INDEX IF NOT EXISTS insights_sessions_account_start_dims ON insights_sessions (account, start) INCLUDE (f_status, f_agent_id, f_duration);`}

// dimPaths are the paths whose facets have a column of their own too
// (text[], the same values in the same order as in facets): the paths
// dashboards group and average by. A terms level, metric or percentile on
// one reads the column, which the start index covers, instead of
// decoding every matching session's facets.
var dimPaths = []struct{ path, col string }{
	{"status", "f_status"},
	{"agent_id", "f_agent_id"},
	{"channel_data.duration", "f_duration"},
}

// dimColumn returns the column of path, "" when it has none.
func dimColumn(path string) string {
	for _, d := range dimPaths {
		if d.path == path {
			return d.col
		}
	}
	return ""
}

// OpenPool opens a connection pool as every voicegw PostgreSQL store needs
// it (see tenancy/pgstore.OpenPool, which it is). dsn is a postgres:// URL
// or key=value pairs; "" takes the standard PG* environment variables.
func OpenPool(ctx context.Context, dsn string) (*pgxpool.Pool, error) { return pgdb.Open(ctx, dsn) }

// OpenIndex opens a pool to dsn and returns an index over it; closing the
// index closes the pool.
func OpenIndex(ctx context.Context, dsn string) (*insights.Index, error) {
	d, err := OpenDriver(ctx, dsn)
	if err != nil {
		return nil, err
	}
	return insights.NewIndex(d), nil
}

// NewIndex returns an index over pool (from OpenPool, perhaps shared with
// other voicegw stores); closing the index leaves the pool open.
func NewIndex(ctx context.Context, pool *pgxpool.Pool) (*insights.Index, error) {
	d, err := NewDriver(ctx, pool)
	if err != nil {
		return nil, err
	}
	return insights.NewIndex(d), nil
}

// OpenDriver is OpenIndex's driver itself; Close closes the pool.
func OpenDriver(ctx context.Context, dsn string) (*Driver, error) {
	st, err := pgdb.OpenStore(ctx, dsn, migrate)
	if err != nil {
		return nil, err
	}
	d, err := newDriver(ctx, st)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return d, nil
}

// NewDriver is NewIndex's driver itself; Close leaves the pool open.
func NewDriver(ctx context.Context, pool *pgxpool.Pool) (*Driver, error) {
	st, err := pgdb.NewStore(ctx, pool, migrate)
	if err != nil {
		return nil, err
	}
	return newDriver(ctx, st)
}

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgdb.Migrate(ctx, pool, SchemaName, schema)
}

func newDriver(ctx context.Context, st *pgdb.Store) (*Driver, error) {
	d := &Driver{pool: st.Pool(), st: st, paths: map[string]pathID{}}
	if err := d.loadPaths(ctx, nil); err != nil {
		return nil, err
	}
	return d, nil
}

// Driver implements driver.Driver on PostgreSQL.
type Driver struct {
	pool *pgxpool.Pool
	st   *pgdb.Store

	mu    sync.RWMutex      // guards paths
	paths map[string]pathID // never changes once known

	// noDims makes aggregations and sorts read every path from the
	// facets and keys, as before schema version 2 (the benchmarks'
	// comparison; tests only).
	noDims bool
}

// pathID is a path's number: as its keys' prefix and as its facets' key.
type pathID struct {
	prefix []byte
	key    string
}

// loadPaths reads the numbers of paths (every path when names is nil)
// into the cache.
func (d *Driver) loadPaths(ctx context.Context, names []string) error {
	q, args := `SELECT pid, path FROM insights_paths`, []any{}
	if names != nil {
		q, args = q+` WHERE path = ANY($1)`, []any{names}
	}
	rows, err := d.pool.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("pgindex: paths: %w", err)
	}
	defer rows.Close()
	found := map[string]pathID{}
	for rows.Next() {
		var pid int64
		var p string
		if err := rows.Scan(&pid, &p); err != nil {
			return fmt.Errorf("pgindex: paths: %w", err)
		}
		found[p] = pathID{prefix: pathPrefix(pid), key: strconv.FormatInt(pid, 10)}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("pgindex: paths: %w", err)
	}
	d.mu.Lock()
	for p, pre := range found {
		d.paths[p] = pre
	}
	d.mu.Unlock()
	return nil
}

// prefixes returns the prefixes of names, asking the database for those
// the cache lacks (another process may have numbered them); a path nobody
// stored is absent from the result.
func (d *Driver) prefixes(ctx context.Context, names []string) (map[string]pathID, error) {
	out := make(map[string]pathID, len(names))
	var missing []string
	d.mu.RLock()
	for _, n := range names {
		if p, ok := d.paths[n]; ok {
			out[n] = p
		} else if !slices.Contains(missing, n) {
			missing = append(missing, n)
		}
	}
	d.mu.RUnlock()
	if len(missing) == 0 {
		return out, nil
	}
	if err := d.loadPaths(ctx, missing); err != nil {
		return nil, err
	}
	d.mu.RLock()
	for _, n := range missing {
		if p, ok := d.paths[n]; ok {
			out[n] = p
		}
	}
	d.mu.RUnlock()
	return out, nil
}

// number gives every path of docs a number, committing new ones on their
// own (a number never changes once given), and returns them.
func (d *Driver) number(ctx context.Context, docs []driver.Document) (map[string]pathID, error) {
	seen := map[string]bool{}
	var names []string
	for i := range docs {
		for _, fs := range [][]driver.Field{docs[i].Terms, docs[i].Tokens} {
			for _, f := range fs {
				if !seen[f.Path] {
					seen[f.Path] = true
					names = append(names, f.Path)
				}
			}
		}
	}
	pre, err := d.prefixes(ctx, names)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, n := range names {
		if _, ok := pre[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return pre, nil
	}
	slices.Sort(missing) // one order for every process: no deadlock between two inserting the same paths
	if _, err := d.pool.Exec(ctx, `INSERT INTO insights_paths(path) SELECT unnest($1::text[]) ON CONFLICT (path) DO NOTHING`, missing); err != nil {
		return nil, fmt.Errorf("pgindex: number paths: %w", err)
	}
	return d.prefixes(ctx, names)
}

// row is one session ready to write.
type row struct {
	account, id string
	start       int64
	keys        [][]byte
	facets      []byte
	dims        [][]string // per dimPaths
	doc         []byte
}

// values returns the row's columns in the order of sessionColumns.
func (r *row) values() []any {
	v := []any{r.account, r.id, r.start, r.keys, r.facets, r.doc}
	for _, d := range r.dims {
		v = append(v, d)
	}
	return v
}

// copyThreshold is the batch size from which Put writes with COPY instead
// of one upsert per session.
const copyThreshold = 64

// Put implements driver.Driver. A batch is one transaction: the sessions
// it replaces are deleted and the batch is written with COPY (smaller
// batches: one INSERT … ON CONFLICT DO UPDATE per session, pipelined in one
// round trip).
func (d *Driver) Put(ctx context.Context, docs []driver.Document) error {
	if len(docs) == 0 {
		return nil
	}
	ids, err := d.number(ctx, docs)
	if err != nil {
		return err
	}
	prefixes := make(map[string][]byte, len(ids))
	keys := make(map[string]string, len(ids))
	for p, id := range ids {
		prefixes[p], keys[p] = id.prefix, id.key
	}
	// The last of several documents of one session wins, as in order.
	last := make(map[[2]string]int, len(docs))
	for i := range docs {
		last[[2]string{docs[i].AccountID, docs[i].ID}] = i
	}
	rows := make([]row, 0, len(last))
	for i := range docs {
		doc := &docs[i]
		if last[[2]string{doc.AccountID, doc.ID}] != i {
			continue
		}
		dk, facets, dims, err := docKeys(doc, prefixes, keys, month(doc.Start))
		if err != nil {
			return fmt.Errorf("pgindex: put %q: %w", doc.ID, err)
		}
		rows = append(rows, row{account: doc.AccountID, id: doc.ID, start: doc.Start, keys: dk, facets: facets, dims: dims, doc: doc.JSON})
	}
	write := d.copyIn
	if len(rows) < copyThreshold {
		write = d.upsert
	}
	for attempt := 0; ; attempt++ {
		err := write(ctx, rows)
		// Two processes put the same new session at once: the second
		// COPY fails on the unique key; its retry deletes the first's.
		// Two batches replacing the same sessions in different orders
		// deadlock; PostgreSQL rolls one back, which is done again.
		if err == nil || attempt == 3 || (pgdb.Code(err) != "23505" && pgdb.Code(err) != "40P01") {
			return err
		}
	}
}

// facetsSQL reads a session's facets.
const facetsSQL = "s.facets"

// sessionColumns are the columns Put writes, in the order of row.values.
var sessionColumns = func() []string {
	cols := []string{"account", "id", "start", "keys", "facets", "doc"}
	for _, d := range dimPaths {
		cols = append(cols, d.col)
	}
	return cols
}()

var upsertSQL = func() string {
	var params, sets []string
	for i, c := range sessionColumns {
		params = append(params, "$"+strconv.Itoa(i+1))
		if c != "account" && c != "id" {
			sets = append(sets, c+" = excluded."+c)
		}
	}
	return `INSERT INTO insights_sessions(` + strings.Join(sessionColumns, ", ") + `) VALUES (` + strings.Join(params, ", ") + `)
	ON CONFLICT (account, id) DO UPDATE SET ` + strings.Join(sets, ", ")
}()

func (d *Driver) upsert(ctx context.Context, rows []row) error {
	var b pgx.Batch
	for _, r := range rows {
		b.Queue(upsertSQL, r.values()...)
	}
	// A batch runs as one implicit transaction.
	if err := d.pool.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("pgindex: put: %w", err)
	}
	return nil
}

func (d *Driver) copyIn(ctx context.Context, rows []row) error {
	accounts := make([]string, len(rows))
	ids := make([]string, len(rows))
	for i, r := range rows {
		accounts[i], ids[i] = r.account, r.id
	}
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM insights_sessions s USING unnest($1::text[], $2::text[]) AS r(account, id)
			WHERE s.account = r.account AND s.id = r.id`, accounts, ids); err != nil {
			return err
		}
		i := 0
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"insights_sessions"}, sessionColumns,
			pgx.CopyFromFunc(func() ([]any, error) {
				if i == len(rows) {
					return nil, nil
				}
				r := &rows[i]
				i++
				return r.values(), nil
			}))
		return err
	})
	if err != nil {
		return fmt.Errorf("pgindex: put: %w", err)
	}
	return nil
}

// Get implements driver.Driver.
func (d *Driver) Get(ctx context.Context, account, id string, from, to int64) ([]byte, error) {
	q := `SELECT doc FROM insights_sessions WHERE id = $1 AND start BETWEEN $2 AND $3`
	args := []any{id, from, to}
	if account != "" {
		q += ` AND account = $4`
		args = append(args, account)
	}
	return d.one(ctx, q+` ORDER BY sid LIMIT 1`, args...)
}

// Find implements driver.Driver.
func (d *Driver) Find(ctx context.Context, account, id string) ([]byte, error) {
	q := `SELECT doc FROM insights_sessions WHERE id = $1`
	args := []any{id}
	if account != "" {
		q += ` AND account = $2`
		args = append(args, account)
	}
	return d.one(ctx, q+` ORDER BY sid LIMIT 1`, args...)
}

func (d *Driver) one(ctx context.Context, q string, args ...any) ([]byte, error) {
	var doc []byte
	err := d.pool.QueryRow(ctx, q, args...).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, driver.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("pgindex: %w", err)
	}
	return doc, nil
}

// Delete implements driver.Driver.
func (d *Driver) Delete(ctx context.Context, account, id string, from, to int64) error {
	q := `DELETE FROM insights_sessions WHERE id = $1 AND start BETWEEN $2 AND $3`
	args := []any{id, from, to}
	if account != "" {
		q += ` AND account = $4`
		args = append(args, account)
	}
	tag, err := d.pool.Exec(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("pgindex: delete: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return driver.ErrNotFound
	}
	return nil
}

// Search implements driver.Driver.
func (d *Driver) Search(ctx context.Context, q *driver.Query) (*driver.Result, error) {
	sql, args, err := d.searchSQL(ctx, q)
	if err != nil {
		return nil, err
	}
	rows, err := d.pool.Query(ctx, sql, oneShot(args)...)
	if err != nil {
		return nil, fmt.Errorf("pgindex: search: %w", err)
	}
	res := &driver.Result{}
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&res.Total, &doc); err != nil {
			rows.Close()
			return nil, fmt.Errorf("pgindex: search: %w", err)
		}
		res.Docs = append(res.Docs, doc)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgindex: search: %w", err)
	}
	if len(res.Docs) == 0 && q.Offset > 0 {
		// A page past the end: the total still counts.
		cb, err := d.compile(ctx, q)
		if err != nil {
			return nil, err
		}
		if err := d.pool.QueryRow(ctx, `SELECT count(*) FROM insights_sessions s `+cb.joins+` WHERE `+cb.where(), oneShot(cb.args)...).Scan(&res.Total); err != nil {
			return nil, fmt.Errorf("pgindex: count: %w", err)
		}
	}
	return res, nil
}

// oneShot returns the arguments of a search or aggregation statement that
// runs unprepared (pgx.QueryExecModeExec): PostgreSQL plans it for these
// values. A prepared statement (pgx's default) gets a generic plan after
// five runs, which cannot see the keys and the range: it would start from
// the (account, start) index, reading every session of the account in the
// range, where the plan for the values reads the GIN posting lists of a
// few keys only.
func oneShot(args []any) []any {
	return append([]any{pgx.QueryExecModeExec}, args...)
}

// searchSQL returns the statement of a search and its arguments: the
// page's sessions and the total in one pass (a window over every match),
// the documents of the page only.
func (d *Driver) searchSQL(ctx context.Context, q *driver.Query) (string, []any, error) {
	b, err := d.compile(ctx, q)
	if err != nil {
		return "", nil, err
	}
	order := b.order(q)
	limit, offset := b.arg(q.Limit), b.arg(q.Offset)
	sql := `SELECT p.total, d.doc FROM (
		SELECT s.sid, count(*) OVER () AS total, row_number() OVER (ORDER BY ` + order + `) AS rn
		FROM insights_sessions s ` + b.joins + ` WHERE ` + b.where() + `
		ORDER BY rn LIMIT ` + limit + ` OFFSET ` + offset + `
	) p JOIN insights_sessions d ON d.sid = p.sid ORDER BY p.rn`
	return sql, b.args, nil
}

// builder collects a statement's conditions and arguments.
type builder struct {
	args  []any
	conds []string
	joins string
	// pre holds the numbers of the query's paths that some session has.
	pre map[string]pathID
	// months are the months of the query's range.
	months []uint16
	// score is the expression of the relevance score, "" when every score
	// is 0.
	score string
	// noDims: sort by the facets and keys, not the dimension columns
	// (Driver.noDims).
	noDims bool
}

func (b *builder) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

func (b *builder) where() string {
	if len(b.conds) == 0 {
		return "true"
	}
	return strings.Join(b.conds, " AND ")
}

// probes returns the keys a clause matches in the query's months (none: it
// matches nothing).
func (b *builder) probes(c *driver.Clause) [][]byte {
	id, ok := b.pre[c.Path]
	if !ok {
		return nil
	}
	p := id.prefix
	var out [][]byte
	for _, m := range b.months {
		for _, v := range c.Values {
			if c.Kind == driver.Match {
				out = append(out, tokenKey(p, m, v.Text))
				continue
			}
			for _, tv := range termValues(v.Text) {
				out = append(out, valueKey(p, m, tv))
			}
		}
	}
	slices.SortFunc(out, bytes.Compare)
	return slices.CompactFunc(out, bytes.Equal)
}

// compile turns the filter of q into conditions on s (the session row).
func (d *Driver) compile(ctx context.Context, q *driver.Query) (*builder, error) {
	var names []string
	for _, cs := range [][]driver.Clause{q.Must, q.MustNot, q.Should} {
		for _, c := range cs {
			names = append(names, c.Path)
		}
	}
	for _, k := range q.Sort {
		names = append(names, k.Path)
	}
	pre, err := d.prefixes(ctx, names)
	if err != nil {
		return nil, err
	}
	b := &builder{pre: pre, months: months(q.From, q.To), noDims: d.noDims}
	if q.AccountID != "" {
		b.conds = append(b.conds, "s.account = "+b.arg(q.AccountID))
	}
	b.conds = append(b.conds, "s.start BETWEEN "+b.arg(q.From)+" AND "+b.arg(q.To))
	// Must: every clause; clauses of one key together as one containment,
	// the others one overlap each (identical ones once).
	var all [][]byte
	seen := map[string]bool{}
	for i := range q.Must {
		ps := b.probes(&q.Must[i])
		switch len(ps) {
		case 0:
			b.conds = append(b.conds, "false")
			return b, nil
		case 1:
			all = append(all, ps[0])
		default:
			k := string(bytes.Join(ps, []byte{0xff, 0xfe}))
			if !seen[k] {
				seen[k] = true
				b.conds = append(b.conds, "s.keys && "+b.arg(ps)+"::bytea[]")
			}
		}
	}
	if len(all) > 0 {
		slices.SortFunc(all, bytes.Compare)
		all = slices.CompactFunc(all, bytes.Equal)
		b.conds = append(b.conds, "s.keys @> "+b.arg(all)+"::bytea[]")
	}
	// Must not: none of the clauses' keys.
	var not [][]byte
	for i := range q.MustNot {
		not = append(not, b.probes(&q.MustNot[i])...)
	}
	if len(not) > 0 {
		b.conds = append(b.conds, "NOT (s.keys && "+b.arg(not)+"::bytea[])")
	}
	// Should: the score counts the clauses a session matches (a repeated
	// clause as often as it is repeated); when one is required, some key
	// of some clause.
	var anyOf [][]byte
	var scoreKeys [][]byte
	var scoreClause []int32
	for i := range q.Should {
		ps := b.probes(&q.Should[i])
		anyOf = append(anyOf, ps...)
		for _, p := range ps {
			scoreKeys = append(scoreKeys, p)
			scoreClause = append(scoreClause, int32(i))
		}
	}
	if q.MinimumShouldMatch > 0 && len(q.Should) > 0 {
		if len(anyOf) == 0 {
			b.conds = append(b.conds, "false")
			return b, nil
		}
		b.conds = append(b.conds, "s.keys && "+b.arg(anyOf)+"::bytea[]")
	}
	if len(scoreKeys) > 0 && slices.ContainsFunc(q.Sort, func(k driver.SortKey) bool { return k.Path == driver.ScorePath }) {
		b.joins = `CROSS JOIN LATERAL (SELECT count(DISTINCT m.c) AS score FROM unnest(s.keys) AS k(v)
			JOIN unnest(` + b.arg(scoreKeys) + `::bytea[], ` + b.arg(scoreClause) + `::int4[]) AS m(v, c) ON m.v = k.v) sc`
		b.score = "sc.score"
	}
	return b, nil
}

// order returns the ORDER BY list of q's sort.
func (b *builder) order(q *driver.Query) string {
	var keys []string
	for _, k := range q.Sort {
		dir := " ASC"
		if k.Desc {
			dir = " DESC"
		}
		switch k.Path {
		case driver.ScorePath:
			if b.score == "" {
				continue // every score is 0
			}
			keys = append(keys, b.score+dir)
		case "session_start_time":
			keys = append(keys, "s.start"+dir)
		case "id":
			keys = append(keys, "s.id"+dir)
		case "account_id":
			keys = append(keys, "NULLIF(s.account, '')"+dir+" NULLS LAST")
		default:
			id, ok := b.pre[k.Path]
			if !ok {
				continue // nobody has the field
			}
			if col := b.dimColumn(k.Path); col != "" && insights.IsIDField(k.Path) {
				keys = append(keys, dimSortKey(col, k.Desc)+dir+" NULLS LAST")
				continue
			}
			keys = append(keys, b.pathSortKey(k.Path, id, k.Desc)+dir+" NULLS LAST")
		}
	}
	keys = append(keys, "s.sid")
	return strings.Join(keys, ", ")
}

// dimColumn returns the dimension column of path, "" when it has none or
// when the columns are not to be read (Driver.noDims).
func (b *builder) dimColumn(path string) string {
	if b.noDims {
		return ""
	}
	return dimColumn(path)
}

// dimSortKey returns the expression of a session's sort key at a path
// with a dimension column: its first (ascending) or last (descending)
// element. Every dimension path is an ID field, whose column holds exactly
// its facets (every value there, sorted), so this is the key pathSortKey
// reads from the facets, read from the column instead.
func dimSortKey(col string, desc bool) string {
	c := "s." + col
	at := c + "[1]"
	if desc {
		at = c + "[array_upper(" + c + ", 1)]"
	}
	return "(" + at + `) COLLATE "C"`
}

// pathSortKey returns the expression of a session's sort key at a path:
// its smallest (ascending) or largest (descending) value. An ID field's
// values are its facets, sorted: the first or the last. Other paths (free
// text) take their smallest or largest leaf key, as kind and payload
// (without path, month, or a number's text, which does not order).
func (b *builder) pathSortKey(path string, id pathID, desc bool) string {
	if insights.IsIDField(path) {
		at := "0"
		if desc {
			at = "-1"
		}
		return `(` + facetsSQL + `->` + b.arg(id.key) + `::text->>` + at + `) COLLATE "C"`
	}
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	p := id.prefix
	lo := b.arg(append(slices.Clone(p), kindNumber))
	hi := b.arg(append(slices.Clone(p), kindToken))
	n := strconv.Itoa(len(p))
	return `(SELECT substr(e, ` + n + ` + 1, 1) || CASE WHEN get_byte(e, ` + n + `) = 1 THEN substr(e, ` + n + ` + 4, 8) ELSE substr(e, ` + n + ` + 4) END
		FROM unnest(s.keys) e WHERE e >= ` + lo + ` AND e < ` + hi + ` ORDER BY e` + dir + ` LIMIT 1)`
}

// As implements driver.Driver: **pgxpool.Pool gives the pool.
func (d *Driver) As(i any) bool {
	p, ok := i.(**pgxpool.Pool)
	if ok {
		*p = d.pool
	}
	return ok
}

// Pool returns the pool.
func (d *Driver) Pool() *pgxpool.Pool { return d.pool }

// Close implements driver.Driver; it closes the pool if OpenDriver (or
// OpenIndex) opened it.
func (d *Driver) Close() error { return d.st.Close() }
