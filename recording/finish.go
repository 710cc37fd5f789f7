package recording

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"
)

// Result describes a finished recording, for the session record.
type Result struct {
	// ID and Key of a recording made through a Dir; zero otherwise.
	ID  ID
	Key string
	// Path of the finished file. After a successful upload the file has
	// been removed from there.
	Path string
	// Format, Channels and SampleRate of the file.
	Format     Format
	Channels   int
	SampleRate int
	// Duration of the audio in the file: the call's length from the
	// recording's start to the last sample delivered by any stream, less
	// the paused time when PauseMode is PauseCut.
	Duration time.Duration
	// Paused is the time spent paused.
	Paused time.Duration
	// Size of the file in bytes.
	Size int64
	// Uploaded is true once the Uploader has accepted the file (Finish
	// succeeded). With package recording/spool's Uploader that means the
	// file is in the storage spool, synced to disk, and the spool uploads
	// it in the background until the bucket confirms it: the object will
	// be at Key, but may not be yet. SpoolConfig.OnUploaded (or the
	// Uploader's Wait) tells when the bucket has it.
	Uploaded bool
}

// upload is where Finish sends a recording made through a Dir: the Dir's
// Uploader, under the recording's ID.
type upload struct {
	dir  *Dir
	id   ID
	mu   sync.Mutex // serializes Finish's upload
	done bool       // the Uploader accepted the file; guarded by the recorder's lock
}

// Stop ends the recording: it writes out everything the streams delivered
// (up to the furthest position any stream reached), finalizes the file
// (WAV header, MP3 flush and LAME tag), fsyncs and closes it. For a
// recording of a Dir the file is then renamed from NAME.part to NAME. A
// second Stop returns the same Result and ErrStopped. After a write
// failure Stop still closes the file and returns the failure.
func (r *Recorder) Stop() (Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return r.result, ErrStopped
	}
	werr := r.advance(r.end())
	r.stopped = true
	f := r.out.files[0]
	path, size, ferr := f.finish()
	if werr == nil || !errors.Is(ferr, ErrWrite) {
		werr = errors.Join(werr, ferr)
	}
	if r.up.dir != nil {
		r.up.dir.release(f.path)
	}
	r.result = Result{
		ID: r.up.id, Path: path, Format: r.format, Channels: f.mix.channels, SampleRate: f.rate,
		Duration: framesToDuration(r.out.frames, r.rate), Paused: framesToDuration(r.pauses.total, r.rate), Size: size,
	}
	if r.up.dir != nil {
		r.result.Key = r.up.id.Key(r.format)
	}
	r.log.Info("recording stopped", "path", path, "duration", r.result.Duration, "size", size, "err", werr)
	return r.result, werr
}

// Finish stops the recording (see Stop) and uploads the file through its
// Dir's Uploader under its key ACCOUNT/APPLICATION/SESSION.wav|mp3; the
// local file is removed only after the Uploader accepted it. When the
// upload fails the finalized file stays in the Dir and the error wraps
// ErrUpload: call Finish again, or Dir.Recover later. After a successful
// Finish, another Finish or Stop returns the Result and ErrStopped. A
// recording made by New has nowhere to go: Finish returns ErrNoUploader.
func (r *Recorder) Finish(ctx context.Context) (Result, error) {
	r.up.mu.Lock()
	defer r.up.mu.Unlock()
	res, err := r.Stop()
	if errors.Is(err, ErrStopped) {
		if r.up.done {
			return res, err
		}
		err = nil
	}
	if err != nil {
		return res, err
	}
	if r.up.dir == nil || r.up.dir.up == nil {
		return res, ErrNoUploader
	}
	if err := r.up.dir.upload(ctx, r.up.id, res.Format, res.Path, res.Size); err != nil {
		return res, err
	}
	r.mu.Lock()
	r.up.done = true
	r.result.Uploaded = true
	res = r.result
	r.mu.Unlock()
	return res, nil
}

// Abort stops the recording without finalizing it and removes its file.
// It is for a recording that must not be kept; a crash-safe stop is Stop.
func (r *Recorder) Abort() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return ErrStopped
	}
	r.stopped = true
	f := r.out.files[0]
	f.sink.abort()
	if r.up.dir != nil {
		r.up.dir.release(f.path)
	}
	return os.Remove(f.path)
}
