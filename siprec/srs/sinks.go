package srs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/recording/spool"
	"github.com/voicegw/voicegw/siprec"
	"github.com/voicegw/voicegw/storage"
)

// Ready-made sinks for a single-tenant recording server: plug one into a
// plain siprec.Server as its Config.Sinks.
//
//	files := srs.RecordToFile(srs.FileConfig{Dir: "/var/lib/srs"})
//	server, _ := siprec.NewServer(siprec.Config{Sinks: files})

// FileConfig configures RecordToFile.
type FileConfig struct {
	// Dir is where each session is recorded, to DIR/SESSION_ID.wav (or
	// .mp3). Required; created (0750) when missing.
	Dir string
	// Format of the files. Default recording.WAV.
	Format recording.Format
	// Recording is the template of every recording (FlushInterval, Window,
	// MP3 settings, LAME...); its Format, Streams, Start and Logger are set
	// per session. Each m-line of the offer is a stream of the file, in
	// order: a two-party call is a stereo file, the first m-line on the left.
	Recording recording.Config
	// OnRecorded, when set, is called once per session, from a goroutine
	// of its own, after its file was finalized (err nil) or could not be.
	OnRecorded func(s *siprec.Session, res recording.Result, err error)
	// Logger receives each session's recording events; nil discards.
	Logger *slog.Logger
}

// FileSinks is the siprec.SinkFactory of RecordToFile.
type FileSinks struct {
	cfg  FileConfig
	log  *slog.Logger
	wg   sync.WaitGroup
	mu   sync.Mutex
	made bool // Dir exists
}

// RecordToFile returns a siprec.SinkFactory that records each session to
// a WAV (or MP3) file of its own in cfg.Dir. A session cancelled before it
// was answered leaves no file. The files are crash-safe: each holds the
// audio up to its last flush (see recording.Config.FlushInterval).
func RecordToFile(cfg FileConfig) *FileSinks {
	f := &FileSinks{cfg: cfg, log: cfg.Logger}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	return f
}

// NewSession implements siprec.SinkFactory.
func (f *FileSinks) NewSession(_ context.Context, s *siprec.Session) (siprec.SessionSink, error) {
	if f.cfg.Dir == "" {
		return nil, fmt.Errorf("%w: FileConfig.Dir is required", ErrConfig)
	}
	f.mu.Lock()
	if !f.made {
		if err := os.MkdirAll(f.cfg.Dir, 0o750); err != nil {
			f.mu.Unlock()
			return nil, fmt.Errorf("srs: %w", err)
		}
		f.made = true
	}
	f.mu.Unlock()
	log := f.log.With("session_id", s.ID(), "call_id", s.CallID())
	rc, index := recorderConfig(f.cfg.Recording, s, f.cfg.Format, log)
	rec, err := recording.New(filepath.Join(f.cfg.Dir, s.ID()+f.cfg.Format.Ext()), rc)
	if err != nil {
		return nil, fmt.Errorf("srs: %w", err)
	}
	k := &finishingSink{recorderSink: newRecorderSink(s, rec, index, log), sess: s, wg: &f.wg,
		finish: func(context.Context) (recording.Result, error) { return rec.Stop() }, done: f.cfg.OnRecorded}
	k.watchFailure(context.Background(), s)
	return k, nil
}

// Wait waits until every session whose end the SIPREC server has reported
// has its file finalized, or until ctx ends. (A client may see the 200 to
// its BYE just before the server reports the end; OnRecorded tells of each
// file.)
func (f *FileSinks) Wait(ctx context.Context) error { return waitGroup(ctx, &f.wg) }

// finishingSink records a session and, at its end, finishes the recording
// on a goroutine of its own (End must return quickly).
type finishingSink struct {
	*recorderSink
	sess   *siprec.Session
	wg     *sync.WaitGroup
	finish func(context.Context) (recording.Result, error)
	done   func(*siprec.Session, recording.Result, error)
}

// End finalizes the recording, or removes it when the session was
// cancelled before it was answered.
func (k *finishingSink) End(reason siprec.EndReason, _ time.Time) {
	k.endStreams()
	if reason == siprec.EndCancel {
		_ = k.rec.Abort()
		return
	}
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		res, err := k.finish(context.Background())
		if err != nil {
			k.log.Error("recording failed", "error", err)
		}
		if k.done != nil {
			k.done(k.sess, res, err)
		}
	}()
}

func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Defaults of UploadConfig.
const (
	DefaultUploadAccount     = "srs"
	DefaultUploadApplication = "recordings"
)

// UploadConfig configures RecordAndUpload.
type UploadConfig struct {
	// Bucket receives every recording. Required. Close it after the
	// UploadSinks.
	Bucket *storage.Bucket
	// Dir holds the recordings being written (DIR/recordings) and those
	// waiting for the bucket (DIR/spool), which a restart uploads. Required.
	Dir string
	// Account and Application are the first two elements of each object's
	// key: ACCOUNT/APPLICATION/SESSION_ID.wav. Defaults
	// DefaultUploadAccount and DefaultUploadApplication.
	Account, Application string
	// Format and Recording are those of FileConfig.
	Format    recording.Format
	Recording recording.Config
	// OnRecorded, when set, is called once per session after its file was
	// finalized and handed to the spool (err nil), or could not be.
	OnRecorded func(s *siprec.Session, res recording.Result, err error)
	// OnUploaded, when set, is called when the bucket confirmed a
	// recording.
	OnUploaded func(it storage.Item)
	// Logger receives recording and upload events; nil discards.
	Logger *slog.Logger
}

// UploadSinks is the siprec.SinkFactory of RecordAndUpload.
type UploadSinks struct {
	cfg   UploadConfig
	log   *slog.Logger
	dir   *recording.Dir
	spool *storage.Spool
	wg    sync.WaitGroup
}

// RecordAndUpload returns a siprec.SinkFactory that records each session
// to a file in cfg.Dir and uploads it to cfg.Bucket through a spool that
// retries until the bucket confirms it, across restarts. Run it (Run) for
// the uploads to happen; Close it when done.
func RecordAndUpload(cfg UploadConfig) (*UploadSinks, error) {
	switch {
	case cfg.Bucket == nil:
		return nil, fmt.Errorf("%w: UploadConfig.Bucket is required", ErrConfig)
	case cfg.Dir == "":
		return nil, fmt.Errorf("%w: UploadConfig.Dir is required", ErrConfig)
	}
	if cfg.Account == "" {
		cfg.Account = DefaultUploadAccount
	}
	if cfg.Application == "" {
		cfg.Application = DefaultUploadApplication
	}
	if err := (recording.ID{Account: cfg.Account, Application: cfg.Application, Session: "x"}).Validate(); err != nil {
		return nil, fmt.Errorf("%w: UploadConfig.Account or Application: %w", ErrConfig, err)
	}
	u := &UploadSinks{cfg: cfg, log: cfg.Logger}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if u.spool, err = storage.OpenSpool(storage.SpoolConfig{
		Dir: filepath.Join(cfg.Dir, "spool"), Bucket: cfg.Bucket, Logger: u.log, OnUploaded: cfg.OnUploaded,
	}); err != nil {
		return nil, fmt.Errorf("srs: %w", err)
	}
	if u.dir, err = recording.OpenDir(recording.DirConfig{
		Path: filepath.Join(cfg.Dir, "recordings"), Uploader: &spool.Uploader{Spool: u.spool}, Logger: u.log,
	}); err != nil {
		_ = u.spool.Close()
		return nil, fmt.Errorf("srs: %w", err)
	}
	return u, nil
}

// NewSession implements siprec.SinkFactory.
func (u *UploadSinks) NewSession(_ context.Context, s *siprec.Session) (siprec.SessionSink, error) {
	log := u.log.With("session_id", s.ID(), "call_id", s.CallID())
	rc, index := recorderConfig(u.cfg.Recording, s, u.cfg.Format, log)
	rec, err := u.dir.Create(recording.ID{Account: u.cfg.Account, Application: u.cfg.Application, Session: s.ID()}, rc)
	if err != nil {
		return nil, fmt.Errorf("srs: %w", err)
	}
	k := &finishingSink{recorderSink: newRecorderSink(s, rec, index, log), sess: s, wg: &u.wg,
		finish: rec.Finish, done: u.cfg.OnRecorded}
	k.watchFailure(context.Background(), s)
	return k, nil
}

// Run repairs the recordings a crash cut off and hands what waits in the
// directory to the spool, then uploads until ctx ends (it returns nil
// then; what is left waits for the next Run).
func (u *UploadSinks) Run(ctx context.Context) error {
	if _, err := u.dir.Recover(ctx); err != nil {
		u.log.Warn("some recordings could not be recovered; they stay for the next start", "error", err)
	}
	if err := u.spool.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("srs: %w", err)
	}
	return nil
}

// Wait waits until every session whose end the SIPREC server has reported
// has its file finalized and uploaded, or until ctx ends (see
// FileSinks.Wait; OnUploaded tells of each file). Run must be running.
func (u *UploadSinks) Wait(ctx context.Context) error {
	if err := waitGroup(ctx, &u.wg); err != nil {
		return err
	}
	return u.spool.WaitEmpty(ctx)
}

// Spool returns the upload spool (what waits for the bucket: Len, List).
func (u *UploadSinks) Spool() *storage.Spool { return u.spool }

// Close releases the spool. Stop Run first.
func (u *UploadSinks) Close() error { return u.spool.Close() }
