package recording

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Object is a finished recording handed to an Uploader.
type Object struct {
	// ID of the recording; Key is its object key, ID.Key(Format).
	ID  ID
	Key string
	// Path of the local file, finalized and closed.
	Path string
	// Format, ContentType ("audio/wav" or "audio/mpeg") and Size of the file.
	Format      Format
	ContentType string
	Size        int64
}

// Uploader stores finished recordings, typically in the account's bucket:
// package recording/spool's Uploader hands them to package storage's spool,
// which retries until
// the bucket has the file. One Uploader serves a whole Dir; it can route by
// Object.ID.Account.
//
// Upload returns nil only when the file is safe: in the bucket, or in a
// durable spool of the uploader's own (moved or copied there). The
// recorder then removes its file if it is still at Object.Path. When Upload
// returns an error the file stays in the Dir and a later Finish or
// Dir.Recover tries again, so nothing is deleted before the bucket has it.
// Upload may be called again for a key it already stored (after a crash
// between its success and the removal); it should overwrite.
type Uploader interface {
	Upload(ctx context.Context, obj Object) error
}

// UploaderFunc adapts a function to the Uploader interface.
type UploaderFunc func(ctx context.Context, obj Object) error

// Upload calls f(ctx, obj).
func (f UploaderFunc) Upload(ctx context.Context, obj Object) error { return f(ctx, obj) }

// DirConfig configures a Dir.
type DirConfig struct {
	// Path of the directory; created if missing. Required.
	Path string
	// Uploader receives finished recordings: a *spool.Uploader (package
	// recording/spool) in a gateway (keep Path and the spool directory on the same file system,
	// so that handing a file over is a rename). Default nil: Finish
	// returns ErrNoUploader and files stay in the directory.
	Uploader Uploader
	// Logger receives events; nil discards.
	Logger *slog.Logger
}

// Dir is the local directory where recordings live while a call lasts and
// until they are uploaded:
//
//	PATH/ACCOUNT/APPLICATION/SESSION.wav.part   being recorded (or cut off by a crash)
//	PATH/ACCOUNT/APPLICATION/SESSION.wav        finished, waiting for upload
//
// The relative path is the object key, so after a crash Recover knows
// where each file belongs without any other state. One process uses a Dir
// at a time. Its methods are safe for concurrent use.
type Dir struct {
	path string
	up   Uploader
	log  *slog.Logger

	mu     sync.Mutex
	active map[string]bool // ".part" files being recorded by this process
}

// partExt marks a file still being recorded.
const partExt = ".part"

// OpenDir creates the directory if needed and returns it.
func OpenDir(cfg DirConfig) (*Dir, error) {
	if cfg.Path == "" {
		return nil, fmt.Errorf("%w: DirConfig.Path is empty", ErrBadConfig)
	}
	if err := os.MkdirAll(cfg.Path, 0o750); err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d := &Dir{path: cfg.Path, up: cfg.Uploader, log: log, active: map[string]bool{}}
	return d, nil
}

// Path returns the directory.
func (d *Dir) Path() string { return d.path }

func (d *Dir) lock()   { d.mu.Lock() }
func (d *Dir) unlock() { d.mu.Unlock() }

// FilePath returns where the finished file of id in format f lives until it
// is uploaded; while it is recorded the name ends in ".part".
func (d *Dir) FilePath(id ID, f Format) string {
	return filepath.Join(d.path, id.Account, id.Application, id.Session+f.Ext())
}

// Create starts recording id: it creates PATH/ACCOUNT/APPLICATION/
// SESSION.wav.part (or .mp3.part, by cfg.Format) and returns its recorder.
// Finish uploads it under the key ID.Key(cfg.Format). A stream with
// StreamConfig.Separate gets SESSION.LABEL.wav.part, uploaded under the key
// ACCOUNT/APPLICATION/SESSION.LABEL.wav (Recover finds it the same way). A
// recording of the same ID and format, in progress or waiting for upload,
// is an error wrapping fs.ErrExist.
func (d *Dir) Create(id ID, cfg Config) (*Recorder, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	final := d.FilePath(id, cfg.Format)
	part := final + partExt
	if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	d.lock()
	defer d.unlock()
	finals := []string{final}
	for i, sc := range cfg.Streams {
		if sc.Separate {
			finals = append(finals, withSuffix(final, separateSuffix(i, sc.Label)))
		}
	}
	for _, f := range finals {
		if _, err := os.Lstat(f); err == nil {
			return nil, fmt.Errorf("recording: %s is finished and waiting for upload: %w", f, fs.ErrExist)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = d.log
	}
	r, err := newRecorder(part, final, d, id, cfg)
	if err != nil {
		return nil, err
	}
	for _, f := range r.out.files {
		d.active[f.path] = true
	}
	return r, nil
}

// release forgets an active recording (after Stop or Abort).
func (d *Dir) release(part string) {
	d.lock()
	delete(d.active, part)
	d.unlock()
}

// upload hands a finished file to the Uploader and removes it once the
// Uploader has it.
func (d *Dir) upload(ctx context.Context, id ID, f Format, path string, size int64) error {
	obj := Object{ID: id, Key: id.Key(f), Path: path, Format: f, ContentType: f.ContentType(), Size: size}
	if err := d.up.Upload(ctx, obj); err != nil {
		d.log.Warn("recording upload failed; the file stays for a retry", "key", obj.Key, "path", path, "err", err)
		return fmt.Errorf("%w: %s: %w", ErrUpload, obj.Key, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.log.Warn("recording handed to the uploader but the local file could not be removed", "key", obj.Key, "path", path, "err", err)
	}
	d.log.Info("recording handed to the uploader", "key", obj.Key, "size", size)
	return nil
}

// Recovered is what Recover did with one file.
type Recovered struct {
	// ID and Key of the recording, from its path.
	ID  ID
	Key string
	// Path of the file after recovery (it is removed once uploaded).
	Path string
	// Repair is set for a file that was cut off while being recorded
	// (".part"): what Repair found and did.
	Repair *RepairResult
	// Info describes the file.
	Info Info
	// Uploaded is true when the Uploader accepted the file (see
	// Result.Uploaded: with a spool.Uploader, queued in the spool).
	Uploaded bool
	// Err is why the file could not be repaired or uploaded; the file
	// stays for the next Recover.
	Err error
}

// Recover is run at start-up, before new recordings are made. It repairs
// every recording that a crash cut off (a ".part" file not being recorded
// by this process: see Repair), renames it to its finished name, and hands
// every finished file still in the directory to the Uploader (when there
// is one). A file that cannot be repaired or uploaded stays where it is
// and is reported in its Recovered.Err; the returned error joins them all.
// Files that do not follow the Dir layout are left alone.
func (d *Dir) Recover(ctx context.Context) ([]Recovered, error) {
	type cand struct {
		path string
		rel  string
		part bool
	}
	var cands []cand
	d.lock()
	err := filepath.WalkDir(d.path, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(d.path, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		part := strings.HasSuffix(rel, partExt)
		if part {
			if d.active[p] {
				return nil
			}
			rel = strings.TrimSuffix(rel, partExt)
		}
		if _, _, err := ParseKey(rel); err != nil {
			return nil
		}
		cands = append(cands, cand{path: p, rel: rel, part: part})
		return nil
	})
	d.unlock()
	if err != nil {
		return nil, fmt.Errorf("recording: walking %s: %w", d.path, err)
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].rel < cands[j].rel })

	var out []Recovered
	var errs []error
	for _, c := range cands {
		if err := ctx.Err(); err != nil {
			return out, errors.Join(append(errs, err)...)
		}
		id, f, _ := ParseKey(c.rel)
		rec := Recovered{ID: id, Key: c.rel, Path: c.path}
		final := d.FilePath(id, f)
		if c.part {
			if _, err := os.Lstat(final); err == nil {
				rec.Err = fmt.Errorf("recording: both %s and its unfinished %s exist; left alone: %w", final, c.path, fs.ErrExist)
			} else {
				res, err := Repair(c.path)
				rec.Repair = &res
				if err == nil {
					err = os.Rename(c.path, final)
				}
				if err != nil {
					rec.Err = fmt.Errorf("recording: recovering %s: %w", c.path, err)
				} else {
					rec.Path = final
					d.log.Info("recording recovered after a crash", "key", c.rel, "duration", res.Info.Duration,
						"truncated", res.Truncated)
				}
			}
		}
		if rec.Err == nil {
			rec.Info, rec.Err = Inspect(rec.Path)
		}
		if rec.Err == nil && d.up != nil {
			if err := d.upload(ctx, id, f, rec.Path, rec.Info.Size); err != nil {
				rec.Err = err
			} else {
				rec.Uploaded = true
			}
		}
		if rec.Err != nil {
			errs = append(errs, rec.Err)
		}
		out = append(out, rec)
	}
	return out, errors.Join(errs...)
}

// Info describes a recording file.
type Info struct {
	// Format, Channels and SampleRate of the file.
	Format     Format
	Channels   int
	SampleRate int
	// Frames is the number of samples per channel, and Duration their
	// length. For an MP3 file with a LAME/Info tag (every finished
	// recording) both are exact; without one (a file cut off by a crash)
	// they include the encoder's start-up delay and final padding.
	Frames   int64
	Duration time.Duration
	// Size of the file in bytes.
	Size int64
	// Bitrate of an MP3 file in kbit/s (0 for WAV).
	Bitrate int
}

// Inspect reads what a recording file holds from its header (WAV) or its
// frames (MP3). A WAV file whose header declares more data than the file
// holds is reported as an error: run Repair.
func Inspect(path string) (Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, fmt.Errorf("recording: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Info{}, fmt.Errorf("recording: %w", err)
	}
	format, err := sniff(f)
	if err != nil {
		return Info{}, fmt.Errorf("%s: %w", path, err)
	}
	var info Info
	if format == WAV {
		info, err = inspectWAV(f, st.Size())
	} else {
		var s mp3Scan
		s, err = scanMP3(f, st.Size())
		info = s.info(st.Size())
	}
	if err != nil {
		return Info{}, fmt.Errorf("%s: %w", path, err)
	}
	return info, nil
}

// Repair makes a recording file cut off by a crash whole again, in place.
// For WAV it sets the header's sizes to the data actually in the file and
// cuts off a partial frame; for MP3 it cuts off a partial last frame. A
// file that needs nothing is left untouched (RepairResult.Changed false).
// It is safe to run on any file this package wrote, finished or not, but
// not on a file still being recorded.
func Repair(path string) (RepairResult, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return RepairResult{}, fmt.Errorf("recording: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return RepairResult{}, fmt.Errorf("recording: %w", err)
	}
	format, err := sniff(f)
	if err != nil {
		return RepairResult{}, fmt.Errorf("%s: %w", path, err)
	}
	var res RepairResult
	if format == WAV {
		res, err = repairWAV(f, st.Size())
	} else {
		res, err = repairMP3(f, st.Size())
	}
	if err != nil {
		return res, fmt.Errorf("repairing %s: %w", path, err)
	}
	return res, nil
}

// sniff tells WAV from MP3 by the first bytes.
func sniff(r io.ReaderAt) (Format, error) {
	var b [4]byte
	n, _ := r.ReadAt(b[:], 0)
	switch {
	case n == 4 && string(b[:]) == "RIFF":
		return WAV, nil
	case n >= 3 && string(b[:3]) == "ID3":
		return MP3, nil
	case n >= 2 && b[0] == 0xff && b[1]&0xe0 == 0xe0:
		return MP3, nil
	}
	return 0, fmt.Errorf("%w: starts with % x", ErrNotRecording, b[:n])
}
