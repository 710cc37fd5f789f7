package srs

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/siprec"
)

// recorderConfig returns the configuration of a session's recording: tmpl
// with the session's start, the format, and one recorder stream per stream
// of the initial offer, in m-line order (so the first m-line is the left
// channel of a stereo file); and the map from m-line index to recorder
// stream. A mixed stream (the metadata names several participants sending
// on it) next to others is recorded to a file of its own
// (recording.StreamConfig.Separate: SESSION.LABEL.wav), so that it is kept
// without being mixed into the parties' channels.
func recorderConfig(tmpl recording.Config, sess *siprec.Session, f recording.Format, log *slog.Logger) (recording.Config, map[int]int) {
	cfg := tmpl
	cfg.Format = f
	cfg.Start = sess.Start()
	cfg.Logger = log
	cfg.Streams = nil
	index := map[int]int{}
	streams := sess.Streams()
	separate := 0
	for i, st := range streams {
		sc := recording.StreamConfig{Label: st.Label()}
		if len(streams) > 1 && len(st.Senders()) > 1 {
			sc.Separate = true
			separate++
		}
		cfg.Streams = append(cfg.Streams, sc)
		index[st.Index()] = i
	}
	if separate == len(streams) { // only mixed streams: they are the recording
		for i := range cfg.Streams {
			cfg.Streams[i].Separate = false
		}
	}
	return cfg, index
}

// recorderSink feeds a session's streams into its recorder: the part of a
// siprec.SessionSink that every recording sink shares. UpdateMetadata and
// End are the embedding sink's.
type recorderSink struct {
	siprec.NopSink
	rec   *recording.Recorder
	index map[int]int // m-line index → recorder stream
	log   *slog.Logger
	// added and removed, when set, are told about each stream fed into
	// the recorder and each that stops.
	added, removed func(st *siprec.Stream)

	mu      sync.Mutex
	streams []*siprec.Stream // those feeding the recorder and not removed

	ended    chan struct{} // closed at the session's end (endStreams)
	endedOne sync.Once
}

// hangupTimeout bounds the BYE of a session whose recording failed.
const hangupTimeout = 10 * time.Second

// watchFailure ends the session with a BYE carrying "Reason: SIP
// ;cause=500;text="Recording failed"" when its recording can no longer be
// written (a full disk, an I/O error: recording.Recorder.Failed), so that
// the recording client knows and can fail over to another recorder rather
// than send audio nobody writes. It stops watching when the session ends.
func (k *recorderSink) watchFailure(ctx context.Context, sess *siprec.Session) {
	go func() {
		select {
		case <-k.rec.Failed():
		case <-k.ended:
			return
		}
		k.log.Error("the recording can no longer be written: ending the session with a BYE", "error", k.rec.Err())
		hctx, cancel := context.WithTimeout(ctx, hangupTimeout)
		defer cancel()
		if err := sess.Hangup(hctx, 500, "Recording failed"); err != nil && !errors.Is(err, siprec.ErrSessionEnded) {
			k.log.Warn("the BYE of the failed recording got no answer", "error", err)
		}
	}()
}

// startRecorder makes the sink of a session just created: rec paused when
// the session starts paused (an initial a=inactive).
func newRecorderSink(sess *siprec.Session, rec *recording.Recorder, index map[int]int, log *slog.Logger) *recorderSink {
	if sess.Paused() {
		_ = rec.Pause(sess.Start())
	}
	return &recorderSink{rec: rec, index: index, log: log, ended: make(chan struct{})}
}

// AddStream feeds a stream of the initial offer into its stream of the
// recording. Streams a re-INVITE adds later are not recorded (the file's
// layout is fixed at the start); they are logged.
func (k *recorderSink) AddStream(st *siprec.Stream) media.Handler {
	i, ok := k.index[st.Index()]
	if !ok {
		k.log.Warn("a stream added during the session is not recorded", "label", st.Label())
		return nil
	}
	h, err := k.rec.Stream(i).MediaHandler()
	if err != nil {
		k.log.Error("stream cannot be recorded", "label", st.Label(), "error", err)
		return nil
	}
	k.mu.Lock()
	k.streams = append(k.streams, st)
	k.mu.Unlock()
	if k.added != nil {
		k.added(st)
	}
	return h
}

// RemoveStream ends the stream's part of the recording (silence from now).
func (k *recorderSink) RemoveStream(st *siprec.Stream, _ time.Time) {
	if i, ok := k.index[st.Index()]; ok {
		_ = k.rec.Stream(i).End()
	}
	k.forget(st)
}

func (k *recorderSink) forget(st *siprec.Stream) {
	k.mu.Lock()
	found := false
	for i, x := range k.streams {
		if x == st {
			k.streams = append(k.streams[:i], k.streams[i+1:]...)
			found = true
			break
		}
	}
	k.mu.Unlock()
	if found && k.removed != nil {
		k.removed(st)
	}
}

// endStreams tells removed about every stream still feeding the recorder,
// at the session's end.
func (k *recorderSink) endStreams() {
	k.endedOne.Do(func() { close(k.ended) })
	k.mu.Lock()
	left := k.streams
	k.streams = nil
	k.mu.Unlock()
	if k.removed != nil {
		for _, st := range left {
			k.removed(st)
		}
	}
}

// Pause and Resume follow a=inactive and a=sendonly re-INVITEs.
func (k *recorderSink) Pause(at time.Time) {
	if err := k.rec.Pause(at); err != nil {
		k.log.Debug("pause", "error", err)
	}
}

// Resume resumes the recording at at.
func (k *recorderSink) Resume(at time.Time) {
	if err := k.rec.Resume(at); err != nil {
		k.log.Debug("resume", "error", err)
	}
}
