package recording

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
)

// sink is a file encoder: WAV or MP3.
type sink interface {
	write(interleaved []int16) error
	flush() error
	close() (size int64, err error)
	abort()
}

// recFile is one file of a recording: how its channels are mixed, its
// encoder, and where it is written and then moved.
type recFile struct {
	path      string // being written
	finalPath string // where Stop moves it ("" to leave it at path)
	mix       mixer
	sink      sink
	rate      int // of the file (MP3 may be resampled)
	// A file of a Separate stream: the stream's label, and the ID it is
	// uploaded under (SESSION.SUFFIX).
	label string
	id    ID
	// uploaded: the Uploader accepted the file; guarded by the recorder's
	// lock.
	uploaded bool
}

// finish finalizes and closes the file, then moves it to its final path;
// it returns where the file is, its size and what failed.
func (f *recFile) finish() (path string, size int64, err error) {
	size, cerr := f.sink.close()
	if cerr != nil {
		err = fmt.Errorf("%w: finalizing %s: %w", ErrWrite, f.path, cerr)
	}
	path = f.path
	if f.finalPath != "" && cerr == nil {
		if rerr := os.Rename(f.path, f.finalPath); rerr != nil {
			err = errors.Join(err, fmt.Errorf("recording: %w", rerr))
		} else {
			path = f.finalPath
		}
	}
	return path, size, err
}

// abort closes the files without finalizing them and removes them; it
// returns the first failure to remove one.
func (w *writer) abort() error {
	var err error
	for _, f := range w.files {
		f.sink.abort()
		if rerr := os.Remove(f.path); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}

// writer writes the mixed timeline to a recording's files, in step, and
// flushes them every flushFrames frames. Its first failure is sticky. The
// recorder's lock guards it.
type writer struct {
	log         *slog.Logger
	files       []*recFile
	flushFrames int64
	sinceFlush  int64
	frames      int64 // frames written to each file
	err         error
	failed      chan struct{} // closed with the first failure
}

// emit mixes n timeline positions from ring index ri (or silence) into
// every file, and flushes them when FlushInterval is due. A WAV file's
// frames are mixed straight into its write buffer, where they are the
// file's bytes already on a little-endian machine; other encoders take
// them from the mixer's frame buffer.
func (w *writer) emit(streams []*Stream, ri, n int64, silent bool) error {
	for _, f := range w.files {
		samples := int(n) * f.mix.channels
		if ws, ok := f.sink.(*wavSink); ok && ws.direct(samples) {
			dst, err := ws.reserve(samples)
			if err != nil {
				return w.fail(f, err)
			}
			if silent {
				clear(dst)
			} else {
				f.mix.mixTo(dst, streams, ri, n)
			}
			ws.commit(samples)
			continue
		}
		var frames []int16
		if silent {
			frames = f.mix.silence(n)
		} else {
			frames = f.mix.mix(streams, ri, n)
		}
		if err := f.sink.write(frames); err != nil {
			return w.fail(f, err)
		}
	}
	w.frames += n
	w.sinceFlush += n
	if w.sinceFlush >= w.flushFrames {
		return w.flush()
	}
	return nil
}

// flush writes out the files' buffers and, for WAV, their headers.
func (w *writer) flush() error {
	w.sinceFlush = 0
	for _, f := range w.files {
		if err := f.sink.flush(); err != nil {
			return w.fail(f, err)
		}
	}
	return nil
}

// fail records a write failure, which is returned from then on, and
// closes the failed channel.
func (w *writer) fail(f *recFile, err error) error {
	if !errors.Is(err, ErrTooLarge) {
		err = fmt.Errorf("%w: %s: %w", ErrWrite, f.path, err)
	}
	if w.err == nil {
		close(w.failed)
	}
	w.err = err
	w.log.Warn("recording write failed", "path", f.path, "err", err)
	return err
}
