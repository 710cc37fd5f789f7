package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"
)

// ErrSpoolLocked is returned by OpenSpool when another Spool (in this or
// another process) holds the directory.
var ErrSpoolLocked = errors.New("storage: spool directory is in use by another spool")

// SpoolConfig configures a Spool. Dir and one of Bucket or Resolve are
// required; every other field has a default.
type SpoolConfig struct {
	// Dir is the spool directory. It is created (0700) when missing. It
	// should be on the same file system as the recordings handed to
	// Enqueue, so that enqueueing is a rename, not a copy.
	Dir string
	// Bucket receives every item, when Resolve is nil.
	Bucket *Bucket
	// Resolve returns the bucket of an item's Target (for example the
	// account SID, whose configuration may change while an item waits: the
	// next try uses the bucket Resolve returns then). The Spool does not
	// close what Resolve returns; cache and close buckets in the resolver.
	// A Resolve error counts as a failed try.
	Resolve func(ctx context.Context, target string) (*Bucket, error)
	// MinBackoff is the wait after the first failed try. Default 1 s.
	MinBackoff time.Duration
	// MaxBackoff bounds the wait between tries; an item is retried forever
	// at this pace until it lands. Default 5 min.
	MaxBackoff time.Duration
	// Workers is how many uploads run at once. Default 2.
	Workers int
	// Logger receives enqueues, failures and landings. Default: discard.
	Logger *slog.Logger
	// OnUploaded, when set, is called (from a worker goroutine) after an
	// item landed and its files were removed from the spool.
	OnUploaded func(Item)
	// OnFailed, when set, is called (from a worker goroutine) after a try
	// failed: the item, with its Attempts, LastError (no secrets), Reason
	// and NextAttempt, waits for its next try. A try cut short by Run's
	// end is not a failure.
	OnFailed func(Item)
}

// EnqueueOptions describe what to do with an enqueued file.
type EnqueueOptions struct {
	// ContentType of the object. Default: from the key (audio/wav,
	// audio/mpeg).
	ContentType string
	// Tags are added to the bucket's configured tags.
	Tags Tags
	// Target is passed to SpoolConfig.Resolve (for example the account
	// SID). Ignored without a resolver.
	Target string
}

// Item is one recording waiting in the spool.
type Item struct {
	// ID names the item in the spool directory and is the upload's
	// UploadID (object metadata voicegw-upload-id).
	ID string `json:"id"`
	// Key is the object key the recording is uploaded to.
	Key string `json:"key"`
	// Target chooses the bucket through SpoolConfig.Resolve.
	Target string `json:"target,omitempty"`
	// ContentType of the object.
	ContentType string `json:"content_type"`
	// Tags added to the bucket's configured tags.
	Tags Tags `json:"tags,omitempty"`
	// Size of the recording in bytes.
	Size int64 `json:"size"`
	// Enqueued is when Enqueue accepted the recording.
	Enqueued time.Time `json:"enqueued"`
	// Attempts counts the tries so far (over restarts).
	Attempts int `json:"attempts"`
	// LastAttempt is when the last try started.
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	// LastError says why the last try failed (no secrets).
	LastError string `json:"last_error,omitempty"`
	// Reason is the kind of the last failure, when known: "bad
	// credentials", "no such bucket", "endpoint unreachable", ...
	Reason string `json:"reason,omitempty"`
	// NextAttempt is when the item is tried again (zero: as soon as a
	// worker is free).
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// Uploading is true while a try runs.
	Uploading bool `json:"-"`
}

// Spool keeps recordings in a local directory until their bucket has
// confirmed them, so a recording is never lost to an unreachable bucket or
// a restart:
//
//   - Enqueue moves a finished file into the directory with a manifest (key,
//     content type, tags, target) and returns; the caller forgets the file.
//   - Run uploads waiting items in the background, retrying failed ones with
//     exponential backoff (SpoolConfig.MinBackoff to MaxBackoff) forever.
//   - A file is removed only after the bucket answered its upload with
//     success; a try that follows a failed one first asks the bucket
//     whether the previous try landed after all (the answer was lost), so
//     each file is stored once.
//   - OpenSpool re-reads the directory: whatever waited before a restart
//     waits again. List and Inspect show what waits and why.
//
// One Spool holds a directory at a time (a lock file; ErrSpoolLocked).
type Spool struct {
	cfg  SpoolConfig
	log  *slog.Logger
	lock *os.File
	wake chan struct{}

	running atomic.Bool

	mu     sync.Mutex
	items  map[string]*Item
	empty  chan struct{} // closed when items becomes empty; replaced when not
	closed bool
}

const (
	manifestExt = ".json"
	dataExt     = ".data"
	tmpExt      = ".tmp"
	lockName    = ".lock"
)

// OpenSpool opens (creating when missing) the spool directory, locks it and
// reads back every item that waited there. Call Run to start uploading and
// Close when done.
func OpenSpool(cfg SpoolConfig) (*Spool, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: spool directory is empty", ErrInvalidConfig)
	}
	if cfg.Bucket == nil && cfg.Resolve == nil {
		return nil, fmt.Errorf("%w: spool needs a Bucket or a Resolve function", ErrInvalidConfig)
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("storage: spool directory: %w", err)
	}
	lock, err := lockDir(filepath.Join(cfg.Dir, lockName))
	if err != nil {
		return nil, err
	}
	s := &Spool{cfg: cfg, log: cfg.Logger, lock: lock, wake: make(chan struct{}, 1), items: map[string]*Item{}}
	if err := s.load(); err != nil {
		_ = unlockDir(lock)
		return nil, err
	}
	s.empty = make(chan struct{})
	if len(s.items) == 0 {
		close(s.empty)
	}
	return s, nil
}

// load reads every manifest of the directory.
func (s *Spool) load() error {
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return fmt.Errorf("storage: read spool directory: %w", err)
	}
	have := map[string]bool{}
	for _, e := range entries {
		have[e.Name()] = true
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, tmpExt):
			// A manifest or copy that was being written when the process
			// stopped; its item never existed.
			_ = os.Remove(filepath.Join(s.cfg.Dir, name))
		case strings.HasSuffix(name, manifestExt):
			id := strings.TrimSuffix(name, manifestExt)
			if !have[id+dataExt] {
				// Enqueue stopped before the file was moved in (the
				// caller still has it), or the item landed and its data
				// was removed before its manifest.
				s.log.Warn("storage: spool manifest without data removed", slog.String("id", id))
				_ = os.Remove(filepath.Join(s.cfg.Dir, name))
				continue
			}
			b, err := os.ReadFile(filepath.Join(s.cfg.Dir, name))
			if err != nil {
				return fmt.Errorf("storage: read spool manifest: %w", err)
			}
			var it Item
			if err := json.Unmarshal(b, &it); err != nil || it.ID != id || it.Key == "" {
				// Never drop a recording: leave both files for an operator.
				s.log.Error("storage: spool manifest unreadable; files left in place", slog.String("file", name), slog.Any("error", err))
				continue
			}
			it.NextAttempt = time.Time{} // a restart retries at once
			s.items[id] = &it
		case strings.HasSuffix(name, dataExt):
			if !have[strings.TrimSuffix(name, dataExt)+manifestExt] {
				s.log.Error("storage: spool data without manifest; file left in place", slog.String("file", name))
			}
		}
	}
	return nil
}

// Close releases the directory. Items stay in it for the next OpenSpool.
// Stop Run (cancel its context) first.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	return unlockDir(s.lock)
}

// Enqueue hands the finished file at name to the spool: it is moved into
// the spool directory (copied, then removed, when on another file system)
// with a manifest, both synced to disk, before Enqueue returns. From then on
// the spool owns the file and uploads it to key. Enqueue checks the key and
// the tags' basic shape; vendor limits are checked at upload.
func (s *Spool) Enqueue(ctx context.Context, name, key string, opts *EnqueueOptions) (Item, error) {
	var o EnqueueOptions
	if opts != nil {
		o = *opts
	}
	if err := ValidateKey(key); err != nil {
		return Item{}, err
	}
	if err := checkTagShape(o.Tags); err != nil {
		return Item{}, err
	}
	if o.ContentType == "" {
		o.ContentType = ContentTypeFor(key)
	}
	st, err := os.Stat(name)
	if err != nil {
		return Item{}, fmt.Errorf("storage: enqueue: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Item{}, fmt.Errorf("storage: enqueue %q: not a regular file", name)
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return Item{}, fmt.Errorf("storage: enqueue: spool %w", ErrClosed)
	}
	it := Item{ID: newItemID(), Key: key, Target: o.Target, ContentType: o.ContentType, Tags: o.Tags,
		Size: st.Size(), Enqueued: time.Now().UTC()}
	// The manifest first: if the process stops before the move, the
	// manifest is an orphan that OpenSpool removes and the caller still has
	// the file; the data never exists without its manifest.
	if err := s.writeManifest(&it); err != nil {
		return Item{}, err
	}
	if err := s.moveIn(ctx, name, s.dataPath(it.ID)); err != nil {
		_ = os.Remove(s.manifestPath(it.ID))
		return Item{}, err
	}
	_ = syncDir(s.cfg.Dir)
	held := it // the spool's own copy; workers change it
	s.mu.Lock()
	s.items[it.ID] = &held
	s.markNonEmpty()
	s.mu.Unlock()
	s.log.Info("storage: recording spooled", slog.String("id", it.ID), slog.String("key", key), slog.Int64("size", it.Size))
	s.kick()
	return it, nil
}

func (s *Spool) moveIn(ctx context.Context, from, to string) error {
	err := os.Rename(from, to)
	if err == nil {
		return nil
	}
	if !errors.Is(err, syscall.EXDEV) {
		return fmt.Errorf("storage: enqueue: %w", err)
	}
	// Another file system: copy (streaming), sync, rename, then remove.
	tmp := to + tmpExt
	if err := copyFile(ctx, from, tmp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("storage: enqueue: copy into spool: %w", err)
	}
	if err := os.Rename(tmp, to); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("storage: enqueue: %w", err)
	}
	if err := os.Remove(from); err != nil {
		s.log.Warn("storage: spooled copy made; source not removed", slog.String("file", from), slog.Any("error", err))
	}
	return nil
}

func copyFile(ctx context.Context, from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, ctxReader{ctx, in}); err != nil {
		_ = out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// ctxReader stops copyFile's io.Copy once ctx is done. It holds ctx only
// for that one call (an io.Reader has no ctx parameter to take it by).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// List returns every waiting item, oldest first.
func (s *Spool) List() []Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Item, 0, len(s.items))
	for _, it := range s.items {
		c := *it
		c.Tags = append(Tags(nil), it.Tags...)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Enqueued.Equal(out[j].Enqueued) {
			return out[i].Enqueued.Before(out[j].Enqueued)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Inspect returns the waiting item id; false when it is not (or no longer)
// in the spool.
func (s *Spool) Inspect(id string) (Item, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[id]
	if !ok {
		return Item{}, false
	}
	c := *it
	c.Tags = append(Tags(nil), it.Tags...)
	return c, true
}

// InspectKey returns the waiting item whose object key is key (the oldest
// when several wait for it); false when none does: it landed, or was never
// enqueued.
func (s *Spool) InspectKey(key string) (Item, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var found *Item
	for _, it := range s.items {
		if it.Key == key && (found == nil || it.Enqueued.Before(found.Enqueued)) {
			found = it
		}
	}
	if found == nil {
		return Item{}, false
	}
	c := *found
	c.Tags = append(Tags(nil), found.Tags...)
	return c, true
}

// Len returns how many items wait.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items)
}

// RetryNow makes every waiting item due at once (after an operator fixed a
// bucket configuration, for example).
func (s *Spool) RetryNow() {
	s.mu.Lock()
	for _, it := range s.items {
		it.NextAttempt = time.Time{}
	}
	s.mu.Unlock()
	s.kick()
}

// WaitEmpty blocks until no item waits or ctx ends. Run must be running for
// the spool to empty.
func (s *Spool) WaitEmpty(ctx context.Context) error {
	s.mu.Lock()
	ch := s.empty
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Spool) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// markNonEmpty must be called with s.mu held after adding an item.
func (s *Spool) markNonEmpty() {
	select {
	case <-s.empty:
		s.empty = make(chan struct{})
	default:
	}
}

// ErrSpoolRunning is returned by Run when the spool already runs.
var ErrSpoolRunning = errors.New("storage: spool is already running")

// Run uploads waiting items until ctx ends; then it stops the uploads in
// flight (their items stay in the spool), waits for them, and returns nil.
// A second Run while one runs returns ErrSpoolRunning.
func (s *Spool) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrSpoolRunning
	}
	defer s.running.Store(false)
	sem := make(chan struct{}, s.cfg.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if ctx.Err() != nil {
			return nil
		}
		it, wait := s.next(time.Now())
		if it != nil {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				s.release(it)
				return nil
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				s.try(ctx, it)
				s.kick()
			}()
			continue
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// next returns a due item, marked uploading, or how long to wait for one.
func (s *Spool) next(now time.Time) (*Item, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var due *Item
	wait := time.Hour
	for _, it := range s.items {
		if it.Uploading {
			continue
		}
		if !it.NextAttempt.After(now) {
			if due == nil || it.Enqueued.Before(due.Enqueued) {
				due = it
			}
			continue
		}
		if d := it.NextAttempt.Sub(now); d < wait {
			wait = d
		}
	}
	if due != nil {
		due.Uploading = true
		return due, 0
	}
	return nil, wait
}

func (s *Spool) release(it *Item) {
	s.mu.Lock()
	it.Uploading = false
	s.mu.Unlock()
}

// try makes one upload attempt of it (marked uploading by next).
func (s *Spool) try(ctx context.Context, it *Item) {
	s.mu.Lock()
	snap := *it
	s.mu.Unlock()
	b, err := s.bucketFor(ctx, snap.Target)
	if err != nil {
		if ctx.Err() != nil {
			s.release(it)
			return
		}
		s.fail(it, err, true)
		return
	}
	if snap.Attempts > 0 {
		// An earlier try may have landed with its answer lost (or the
		// process stopped before removing the files): ask the bucket.
		// An error here (a write-only policy) just means: upload again.
		if ok, _ := b.Landed(ctx, snap.Key, snap.Size, snap.ID); ok {
			s.finish(it, b, true)
			return
		}
	}
	snap.Attempts++
	snap.LastAttempt = time.Now().UTC()
	// Persist the attempt before it starts, so a restart knows to check
	// the bucket first.
	if err := s.writeManifest(&snap); err != nil {
		s.fail(it, err, true)
		return
	}
	s.mu.Lock()
	it.Attempts, it.LastAttempt = snap.Attempts, snap.LastAttempt
	s.mu.Unlock()
	err = b.UploadFile(ctx, snap.Key, s.dataPath(snap.ID), &UploadOptions{
		ContentType: snap.ContentType, Tags: snap.Tags, UploadID: snap.ID,
	})
	if err == nil {
		s.finish(it, b, false)
		return
	}
	if ctx.Err() != nil {
		// Shutting down: the item waits for the next Run.
		s.release(it)
		return
	}
	s.fail(it, err, false)
}

func (s *Spool) bucketFor(ctx context.Context, target string) (*Bucket, error) {
	if s.cfg.Resolve != nil {
		b, err := s.cfg.Resolve(ctx, target)
		if err == nil && b == nil {
			err = fmt.Errorf("storage: no bucket for target %q", target)
		}
		return b, err
	}
	return s.cfg.Bucket, nil
}

// finish removes the landed item's files: data first, then the manifest (a
// manifest without data is dropped by OpenSpool).
func (s *Spool) finish(it *Item, b *Bucket, byCheck bool) {
	s.mu.Lock()
	snap := *it
	s.mu.Unlock()
	if err := os.Remove(s.dataPath(snap.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Error("storage: landed recording not removed from spool", slog.String("id", snap.ID), slog.Any("error", err))
	}
	_ = os.Remove(s.manifestPath(snap.ID))
	_ = syncDir(s.cfg.Dir)
	s.mu.Lock()
	delete(s.items, snap.ID)
	if len(s.items) == 0 {
		select {
		case <-s.empty:
		default:
			close(s.empty)
		}
	}
	s.mu.Unlock()
	s.log.Info("storage: recording landed", slog.String("id", snap.ID), slog.String("key", snap.Key),
		slog.String("bucket", b.String()), slog.Int("attempts", snap.Attempts), slog.Bool("found_by_check", byCheck))
	if s.cfg.OnUploaded != nil {
		snap.Uploading = false
		s.cfg.OnUploaded(snap)
	}
}

// fail records a failed try; uncounted is true when the try failed before
// it was counted (no bucket), so that the backoff still grows.
func (s *Spool) fail(it *Item, err error, uncounted bool) {
	s.mu.Lock()
	if uncounted {
		it.Attempts++
		it.LastAttempt = time.Now().UTC()
	}
	it.LastError = scrub(err.Error())
	it.Reason = ""
	if kind, _ := classify(err); kind != nil && kind != errServer {
		it.Reason = kind.Error()
	}
	wait := spoolBackoff(s.cfg.MinBackoff, s.cfg.MaxBackoff, max(it.Attempts, 1))
	it.NextAttempt = time.Now().Add(wait).UTC()
	snap := *it
	s.mu.Unlock()
	// Still marked uploading while the manifest is written, so no other
	// worker takes the item (and writes its manifest) meanwhile.
	if werr := s.writeManifest(&snap); werr != nil {
		s.log.Error("storage: spool manifest not updated", slog.String("id", snap.ID), slog.Any("error", werr))
	}
	s.release(it)
	s.log.Warn("storage: recording upload failed; will retry", slog.String("id", snap.ID), slog.String("key", snap.Key),
		slog.Int("attempts", snap.Attempts), slog.Duration("retry_in", wait), slog.String("error", snap.LastError))
	if s.cfg.OnFailed != nil {
		snap.Uploading = false
		s.cfg.OnFailed(snap)
	}
}

// spoolBackoff is min*2^(n-1) capped at max, with "equal jitter" (half
// fixed, half random) so that items failing together spread out.
func spoolBackoff(minB, maxB time.Duration, n int) time.Duration {
	ceil := minB
	for i := 1; i < n && ceil < maxB; i++ {
		ceil *= 2
	}
	ceil = min(ceil, maxB)
	half := ceil / 2
	return half + backoff(half+1, half+1, 1)
}

func (s *Spool) dataPath(id string) string     { return filepath.Join(s.cfg.Dir, id+dataExt) }
func (s *Spool) manifestPath(id string) string { return filepath.Join(s.cfg.Dir, id+manifestExt) }

// writeManifest writes it atomically (temporary file, fsync, rename).
func (s *Spool) writeManifest(it *Item) error {
	b, err := json.MarshalIndent(it, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.cfg.Dir, it.ID+manifestExt+".*"+tmpExt)
	if err != nil {
		return fmt.Errorf("storage: spool manifest: %w", err)
	}
	tmp := f.Name()
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("storage: spool manifest: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("storage: spool manifest: %w", err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("storage: spool manifest: %w", err)
	}
	if err := os.Rename(tmp, s.manifestPath(it.ID)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("storage: spool manifest: %w", err)
	}
	return syncDir(s.cfg.Dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// newItemID returns a sortable, unique item ID: the time in nanoseconds
// and random bits.
func newItemID() string {
	var r [6]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%016x-%s", time.Now().UnixNano(), hex.EncodeToString(r[:]))
}

// checkTagShape checks what holds for every vendor: named, unique, UTF-8.
// The vendor's own limits are checked when the item is uploaded.
func checkTagShape(tags Tags) error {
	seen := map[string]bool{}
	for i, t := range tags {
		field := fmt.Sprintf("tags[%d].name", i)
		switch {
		case t.Name == "":
			return &FieldError{Field: field, Reason: "a tag needs a name", Err: ErrMissingField}
		case !utf8.ValidString(t.Name) || !utf8.ValidString(t.Value):
			return &FieldError{Field: field, Value: t.Name, Reason: "tags are UTF-8 text", Err: ErrInvalidField}
		case seen[t.Name]:
			return &FieldError{Field: field, Value: t.Name, Reason: "same name as an earlier tag", Err: ErrInvalidField}
		}
		seen[t.Name] = true
	}
	return nil
}

// RecordingKey returns the object key of a recording,
// ACCOUNT_SID/APPLICATION_SID/SESSION_ID.FORMAT, with format "wav" or
// "mp3". Each part must be non-empty and hold no "/".
func RecordingKey(accountSID, applicationSID, sessionID, format string) (string, error) {
	for _, p := range []struct{ name, v string }{{"account SID", accountSID}, {"application SID", applicationSID}, {"session ID", sessionID}} {
		if p.v == "" || strings.ContainsAny(p.v, "/\\") || p.v == "." || p.v == ".." {
			return "", fmt.Errorf("%w: %s %q cannot be a key segment", ErrInvalidKey, p.name, p.v)
		}
	}
	if format != "wav" && format != "mp3" {
		return "", fmt.Errorf("%w: format %q; want wav or mp3", ErrInvalidKey, format)
	}
	key := accountSID + "/" + applicationSID + "/" + sessionID + "." + format
	return key, ValidateKey(key)
}
