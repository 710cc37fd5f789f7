package recording

import (
	"context"
	"errors"
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
	// Label is the label of the stream of a Separate file; empty for the
	// recording's own file.
	Label string
	// Separate describes the files of the streams recorded on their own
	// (StreamConfig.Separate), in the order of Config.Streams: each a mono
	// file of the same format, rate and duration, with its own ID (the
	// session's, SESSION.LABEL), Key, Path, Size and Uploaded.
	Separate []Result
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
// (WAV header, MP3 flush and LAME tag), fsyncs and closes it, and the files
// of Separate streams likewise. For a recording of a Dir each file is then
// renamed from NAME.part to NAME. A second Stop returns the same Result and
// ErrStopped. After a write failure Stop still closes the files and
// returns the failure.
func (r *Recorder) Stop() (Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return r.resultLocked(), ErrStopped
	}
	werr := r.advance(r.end())
	r.stopped = true
	for i, f := range r.out.files {
		path, size, ferr := f.finish()
		if werr == nil || !errors.Is(ferr, ErrWrite) {
			werr = errors.Join(werr, ferr)
		}
		if r.up.dir != nil {
			r.up.dir.release(f.path)
		}
		res := Result{
			ID: f.id, Path: path, Format: r.format, Channels: f.mix.channels, SampleRate: f.rate, Label: f.label,
			Duration: framesToDuration(r.out.frames, r.rate), Paused: framesToDuration(r.pauses.total, r.rate), Size: size,
		}
		if r.up.dir != nil {
			res.Key = f.id.Key(r.format)
		}
		if i == 0 {
			r.result = res
		} else {
			r.result.Separate = append(r.result.Separate, res)
		}
	}
	if werr != nil {
		r.log.Warn("recording stopped", "path", r.result.Path, "duration", r.result.Duration, "size", r.result.Size,
			"separate", len(r.result.Separate), "error", werr)
	} else {
		r.log.Info("recording stopped", "path", r.result.Path, "duration", r.result.Duration, "size", r.result.Size,
			"separate", len(r.result.Separate))
	}
	return r.resultLocked(), werr
}

// Finish stops the recording (see Stop) and uploads the file through its
// Dir's Uploader under its key ACCOUNT/APPLICATION/SESSION.wav|mp3, and the
// files of Separate streams under theirs (SESSION.LABEL.wav|mp3); a local
// file is removed only after the Uploader accepted it. When an upload
// fails the finalized files not yet uploaded stay in the Dir and the error
// wraps ErrUpload: call Finish again (it uploads only what is left), or
// Dir.Recover later. After a successful Finish, another Finish or Stop
// returns the Result and ErrStopped. A recording made by New has nowhere
// to go: Finish returns ErrNoUploader.
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
	for i, f := range r.out.files {
		fr := &res
		if i > 0 {
			fr = &res.Separate[i-1]
		}
		r.mu.Lock()
		done := f.uploaded
		r.mu.Unlock()
		if done {
			continue
		}
		if err := r.up.dir.upload(ctx, f.id, fr.Format, fr.Path, fr.Size); err != nil {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.resultLocked(), err
		}
		r.mu.Lock()
		f.uploaded = true
		if i == 0 {
			r.result.Uploaded = true
		} else {
			r.result.Separate[i-1].Uploaded = true
		}
		r.mu.Unlock()
	}
	r.mu.Lock()
	r.up.done = true
	res = r.resultLocked()
	r.mu.Unlock()
	return res, nil
}

// resultLocked returns a copy of the Result (with what was uploaded so
// far) that later uploads do not change. The recorder's lock is held.
func (r *Recorder) resultLocked() Result {
	res := r.result
	res.Separate = append([]Result(nil), r.result.Separate...)
	return res
}

// Abort stops the recording without finalizing it and removes its files.
// It is for a recording that must not be kept; a crash-safe stop is Stop.
func (r *Recorder) Abort() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return ErrStopped
	}
	r.stopped = true
	err := r.out.abort()
	if r.up.dir != nil {
		for _, f := range r.out.files {
			r.up.dir.release(f.path)
		}
	}
	return err
}
