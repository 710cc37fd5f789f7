package sip

import (
	"bytes"
)

// frameState is where a streamFramer is in the stream.
type frameState uint8

const (
	frameBetween frameState = iota // before a start line: CRLF keep-alives (RFC 5626 §3.5.1)
	frameHead                      // in a header section, held back until it is complete
	frameBody                      // in a body, passed on
	frameSkip                      // in the body of a message refused as too large, dropped
	frameLost                      // no Content-Length to frame by: everything passed on
)

// frameEvents is what a streamFramer tells its connection.
type frameEvents interface {
	// started: the first byte of a message arrived.
	started()
	// completed: a message ended (passed on, or dropped as too large).
	completed()
	// keepalive: CR or LF between messages.
	keepalive()
	// tooLarge: a message over the limit, whose header section (or its
	// first max bytes, when final) is head; final means the stream cannot
	// go on (no end of the header section within the limit).
	tooLarge(head []byte, final bool)
}

// streamFramer follows the message boundaries of a SIP stream (RFC 3261
// §7.5, §18.3: the end of the header section, then Content-Length bytes
// of body) as the bytes pass from a connection to sipgo's stream parser,
// so a Listener knows when a complete message arrived and can drop a
// message over the size limit whole, before sipgo sees any of it: a
// header section is held back until it is complete (at most max bytes);
// bodies pass through as they arrive. Input that cannot be framed (no or
// a malformed Content-Length, which sipgo's parser refuses too) is passed
// on unframed; sipgo then closes the connection.
type streamFramer struct {
	max   int
	state frameState
	head  []byte // the held header section
	left  int64  // body bytes still to pass or skip
	ready []byte // output when held bytes had to go before in's (see feed)
	// fromReady: the last feed's output is ready, not a prefix of its input
	fromReady bool
}

// Byte strings the framer looks for (read only).
var (
	endOfHead            = []byte("\r\n\r\n")
	crlf                 = []byte("\r\n")
	contentLengthName    = []byte("content-length")
	contentLengthCompact = []byte("l")
)

// feed processes in and returns the bytes to hand on, which is either a
// prefix of in (in is compacted in place) or f.ready, which the caller
// hands on before feeding more. It reports false when the stream cannot
// go on (a header section over the limit).
func (f *streamFramer) feed(in []byte, ev frameEvents) ([]byte, bool) {
	f.ready = f.ready[:0]
	w := 0
	toReady := false
	emit := func(seg []byte) {
		if toReady {
			f.ready = append(f.ready, seg...)
			return
		}
		w += copy(in[w:], seg)
	}
	for i := 0; i < len(in); {
		switch f.state {
		case frameLost:
			emit(in[i:])
			i = len(in)

		case frameBetween:
			j := i
			for j < len(in) && (in[j] == '\r' || in[j] == '\n') {
				j++
			}
			if j > i {
				emit(in[i:j])
				ev.keepalive()
				i = j
			}
			if i < len(in) {
				f.state = frameHead
				f.head = f.head[:0]
				ev.started()
			}

		case frameHead:
			var section []byte // the complete header section, if found
			if len(f.head) == 0 {
				if k := bytes.Index(in[i:], endOfHead); k >= 0 {
					section = in[i : i+k+4]
					i += k + 4
				}
			} else {
				from := max(0, len(f.head)-3)
				f.head = append(f.head, in[i:]...)
				if k := bytes.Index(f.head[from:], endOfHead); k >= 0 {
					n := from + k + 4
					used := n - (len(f.head) - (len(in) - i))
					section = f.head[:n]
					i += used
					// held bytes go first: from here on, output is built in f.ready
					if !toReady {
						f.ready = append(f.ready, in[:w]...)
						toReady = true
					}
				} else {
					i = len(in)
				}
			}
			if section == nil {
				if len(f.head) == 0 {
					f.head = append(f.head, in[i:]...)
					i = len(in)
				}
				if len(f.head) > f.max {
					ev.tooLarge(f.head[:f.max], true)
					return f.out(in, w, toReady), false
				}
				continue
			}
			if len(section) > f.max {
				// the same as when it arrives in pieces: no end within the limit
				ev.tooLarge(section[:f.max], true)
				return f.out(in, w, toReady), false
			}
			length, ok := contentLength(section)
			switch {
			case !ok:
				f.state = frameLost
				emit(section)
			case int64(len(section))+length > int64(f.max):
				ev.tooLarge(section, false)
				f.left = length
				f.state = frameSkip
			default:
				emit(section)
				f.left = length
				f.state = frameBody
			}
			f.head = f.head[:0]
			if f.state != frameLost && f.left == 0 {
				f.state = frameBetween
				ev.completed()
			}

		case frameBody, frameSkip:
			k := int(min(f.left, int64(len(in)-i)))
			if f.state == frameBody {
				emit(in[i : i+k])
			}
			f.left -= int64(k)
			i += k
			if f.left == 0 {
				f.state = frameBetween
				ev.completed()
			}
		}
	}
	return f.out(in, w, toReady), true
}

func (f *streamFramer) out(in []byte, w int, toReady bool) []byte {
	f.fromReady = toReady
	if toReady {
		return f.ready
	}
	return in[:w]
}

// idle reports whether the stream is between messages.
func (f *streamFramer) idle() bool { return f.state == frameBetween }

// contentLength returns the value of the last Content-Length (or l)
// header of a header section (as sipgo's parser takes the last), and false
// when there is none or it is not a decimal number.
func contentLength(section []byte) (int64, bool) {
	s := section
	// skip the start line
	if k := bytes.Index(s, crlf); k >= 0 {
		s = s[k+2:]
	}
	found := false
	var length int64
	for len(s) > 0 {
		k := bytes.Index(s, crlf)
		if k < 0 {
			k = len(s)
		}
		line := s[:k]
		s = s[min(k+2, len(s)):]
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		name := bytes.TrimSpace(line[:colon])
		if !bytes.EqualFold(name, contentLengthName) && !bytes.EqualFold(name, contentLengthCompact) {
			continue
		}
		v := bytes.TrimSpace(line[colon+1:])
		if len(v) == 0 || len(v) > 18 {
			return 0, false
		}
		var n int64
		for _, c := range v {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int64(c-'0')
		}
		length, found = n, true
	}
	return length, found
}
