package recording

import (
	"github.com/voicegw/voicegw/internal/prefetch"
	"github.com/voicegw/voicegw/media"
)

var _ media.Prefetcher = (*MediaHandler)(nil)

// prefetchFrames is how many samples of a ring, and frames of a file's
// buffer, Prefetch reads ahead: a 20 ms packet at 8 kHz.
const prefetchFrames = 160

// Prefetch implements media.Prefetcher: it brings into cache the memory the next
// HandleAudio is likely to use — the stream and its recorder, the stream's
// ring where the next packet's samples go, the other streams' rings where
// the next frames are mixed from, and the file buffer they are mixed into
// — without the recorder's lock and without writing anything. The
// positions it reads at are hints read while the worker may change them;
// every index is kept inside its slice.
func (h *MediaHandler) Prefetch() uintptr { return h.s.prefetch() }

//go:norace
func (s *Stream) prefetch() uintptr {
	// Every object is hinted whole (its lines come without holding the
	// worker up); only the fields the next addresses are in are read, and
	// only those reads wait. The rings and the file buffer are written and
	// read after this: hinted only.
	prefetch.HintObject(s)
	r := s.r
	prefetch.HintObject(r)
	mask := int(r.mask)
	prefetch.HintSlice(s.ring, int(s.front)&mask, prefetchFrames)
	prefetch.HintSlice(s.cov, (int(s.front)&mask)>>6, 1)
	head := int(r.head) & mask
	for _, o := range r.streams {
		if o != s {
			prefetch.HintSlice(o.ring, head, prefetchFrames)
		}
	}
	for _, f := range r.out.files {
		prefetch.HintObject(f)
		if ws, ok := f.sink.(*wavSink); ok {
			prefetch.HintObject(ws)
			buf := ws.out.buf
			n := f.mix.channels * prefetchFrames * 2
			i := len(buf)
			if cap(buf)-i < n {
				i = 0
			}
			prefetch.HintSlice(buf[:cap(buf)], i, n)
		}
	}
	return 0 // hints only: no load to keep (the reads above feed the hints' addresses)
}
