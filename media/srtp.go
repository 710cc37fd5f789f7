package media

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// SRTPConfig configures an SRTPContext. The zero value works.
type SRTPConfig struct {
	// ReplayWindow is how far behind the highest index received a packet
	// may arrive and still be accepted, once (RFC 3711 §3.3.2). Default 128,
	// as libsrtp; at least 64, at most 1024. The WSH session parameter of
	// the a=crypto line raises it (up to 1024). Packets reordered further
	// than this are dropped as replays.
	ReplayWindow int
}

const (
	defaultWindow = 128
	maxWindow     = 1024
)

// srtpMaxOverhead is the most bytes SRTP adds to a packet: a 16-byte tag
// and the longest MKI.
const srtpMaxOverhead = 16 + maxMKILength

// direction of an SRTPContext, fixed by its first use.
const (
	srtpUnused uint32 = iota
	srtpDecrypting
	srtpEncrypting
)

// SRTPContext is the SRTP cryptographic context (RFC 3711 §3.2) of one
// direction of one RTP stream: one master key, from one a=crypto line. A
// Receiver decrypts with a context made from the remote's line (the key the
// peer encrypts with); a Sender encrypts with a context made from this
// side's line. A context serves one direction and one Receiver or Sender:
// NewReceiver and NewSender refuse one already in use, and Decrypt and
// Encrypt refuse the direction a context was not first used in.
//
// Decrypt authenticates before it decrypts, drops replays with its own
// window per SSRC, and counts packets against the key's lifetime. Rekey
// changes the key when a re-INVITE changed it. SRTCP is not implemented:
// this package does not read RTCP.
//
// Decrypt and Encrypt are not safe for concurrent use (a Receiver or
// Sender serializes them); Rekey, Suite and Overhead may be called from
// any goroutine.
type SRTPContext struct {
	cfg     SRTPConfig
	cur     *srtpKey // the key in use
	old     *srtpKey // decrypting after a Rekey: the previous key, until the new one authenticates a packet
	hdr     rtp.Header
	scratch []byte // a packet's copy while two keys are tried
	dir     uint32
	claimed atomic.Bool

	next   atomic.Pointer[srtpKey] // installed by Rekey, taken by the next Decrypt or Encrypt
	latest atomic.Pointer[srtpKey] // the most recent key, current or pending
	rekey  sync.Mutex
}

// srtpKey is one master key in use: pion's context for it, its lifetime,
// and the receive state of each SSRC it authenticated.
type srtpKey struct {
	ctx      *srtp.Context
	suite    CryptoSuite
	id       [sha256.Size]byte // identifies the key and its parameters (Rekey to the same key is no change)
	overhead int               // authentication tag + MKI bytes per packet
	window   uint64
	lifetime uint64
	used     uint64 // packets protected or accepted with the key

	// replay state of each SSRC authenticated so far; last is the most
	// recent (looked up first)
	sources map[uint32]*srtpSource
	last    *srtpSource
}

// NewSRTPContext returns a context for the key of c (which must pass
// Crypto.Validate; errors wrap ErrUnsupportedCrypto) or ErrInvalidConfig
// for a bad cfg.
func NewSRTPContext(c Crypto, cfg SRTPConfig) (*SRTPContext, error) {
	if cfg.ReplayWindow != 0 && (cfg.ReplayWindow < minWindow || cfg.ReplayWindow > maxWindow) {
		return nil, fmt.Errorf("%w: SRTPConfig.ReplayWindow %d is not between %d and %d", ErrInvalidConfig, cfg.ReplayWindow, minWindow, maxWindow)
	}
	k, err := newSRTPKey(c, cfg)
	if err != nil {
		return nil, err
	}
	ctx := &SRTPContext{cfg: cfg, cur: k}
	ctx.latest.Store(k)
	return ctx, nil
}

func newSRTPKey(c Crypto, cfg SRTPConfig) (*srtpKey, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	window := cfg.ReplayWindow
	if window == 0 {
		window = defaultWindow
	}
	if wsh, _ := c.windowHint(); wsh > window {
		window = wsh
	}
	info, _ := c.Suite.info()
	k := c.Keys[0]
	key := k.Key.Reveal()
	var opts []srtp.ContextOption // pion's own replay protection stays off: ours does not allocate
	if k.MKILength > 0 {
		opts = append(opts, srtp.MasterKeyIndicator(k.mkiBytes()))
	}
	ctx, err := srtp.CreateContext(key[:info.keyLen], key[info.keyLen:], info.profile, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: a=crypto:%d %s: %v", ErrUnsupportedCrypto, c.Tag, info.name, err)
	}
	lifetime := k.Lifetime
	if lifetime == 0 {
		lifetime = maxLifetime
	}
	h := sha256.New()
	h.Write([]byte(info.name))
	h.Write(key)
	_ = binary.Write(h, binary.BigEndian, [4]uint64{k.MKI, uint64(k.MKILength), lifetime, uint64(window)})
	return &srtpKey{
		ctx:      ctx,
		suite:    info.name,
		id:       [sha256.Size]byte(h.Sum(nil)),
		overhead: info.tagLen + k.MKILength,
		window:   uint64(window),
		lifetime: lifetime,
		sources:  map[uint32]*srtpSource{},
	}, nil
}

// Suite returns the crypto-suite of the context's key (the latest one
// given to Rekey).
func (c *SRTPContext) Suite() CryptoSuite { return c.latest.Load().suite }

// Overhead returns how many bytes SRTP adds to an RTP packet: the
// authentication tag and the MKI (of the latest key).
func (c *SRTPContext) Overhead() int { return c.latest.Load().overhead }

// Rekey makes the context use the key of c from the next packet on: the
// new key of a re-INVITE (RFC 4568 §7.1.4), or of an answer to one. A key
// equal to the current one (same suite, key, lifetime, MKI and window) is
// no change, so a caller may Rekey with every new offer or answer. It is
// safe to call while a Receiver or Sender uses the context.
//
// A new key is a new crypto context: its rollover counter and replay
// state start from zero (RFC 4568 §7.1.4), as the peer's do. Decrypting,
// the previous key stays accepted until a packet authenticates with the new
// one, since packets sent before the change may still be in flight; after
// that, a packet of the old key fails authentication. Errors wrap
// ErrUnsupportedCrypto; the context then keeps its key.
func (c *SRTPContext) Rekey(cr Crypto) error {
	k, err := newSRTPKey(cr, c.cfg)
	if err != nil {
		return err
	}
	c.rekey.Lock()
	defer c.rekey.Unlock()
	if c.latest.Load().id == k.id {
		return nil
	}
	c.next.Store(k)
	c.latest.Store(k)
	return nil
}

// takeNext installs a key given to Rekey.
func (c *SRTPContext) takeNext() {
	k := c.next.Swap(nil)
	if k == nil {
		return
	}
	if c.dir == srtpDecrypting && c.old == nil {
		c.old = c.cur // a second Rekey before any packet keeps the oldest
	}
	c.cur = k
}

// claim reserves c for one Receiver or Sender.
func (c *SRTPContext) claim() error {
	if !c.claimed.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: the SRTPContext is already used by another Receiver or Sender", ErrInvalidConfig)
	}
	return nil
}

var errSRTPDirection = fmt.Errorf("%w: an SRTPContext either decrypts or encrypts, never both (one key per direction)", ErrInvalidConfig)

// Decrypt authenticates and decrypts the SRTP packet pkt in place and
// returns the RTP packet (a prefix of pkt, without tag and MKI). It returns
// ErrMalformedPacket (not an RTP packet, or too short for the tag),
// ErrSRTPReplay (the index was already accepted, or is older than the
// window), ErrSRTPAuth (the tag does not verify: forged or corrupted), or
// ErrSRTPKeyExpired (the key's lifetime is used up) — these sentinels
// unwrapped, so the per-packet path does not allocate. A packet that fails
// leaves the context unchanged. pkt may be modified even when Decrypt fails.
func (c *SRTPContext) Decrypt(pkt []byte) ([]byte, error) {
	if c.dir != srtpDecrypting {
		if c.dir != srtpUnused {
			return nil, errSRTPDirection
		}
		c.dir = srtpDecrypting
	}
	if c.next.Load() != nil {
		c.takeNext()
	}
	n, err := c.hdr.Unmarshal(pkt)
	if err != nil || c.hdr.Version != 2 {
		return nil, ErrMalformedPacket
	}
	if c.old == nil {
		return c.cur.decrypt(pkt, n, &c.hdr)
	}
	// After a Rekey: the new key first, then the old one on a copy (a
	// failed GCM open may have overwritten pkt).
	c.scratch = append(c.scratch[:0], pkt...)
	out, err := c.cur.decrypt(pkt, n, &c.hdr)
	if err == nil {
		c.old = nil
		return out, nil
	}
	copy(pkt, c.scratch)
	if out, oerr := c.old.decrypt(pkt, n, &c.hdr); oerr != ErrSRTPAuth && oerr != ErrMalformedPacket {
		return out, oerr // opened with the old key, or replayed or expired under it
	}
	return nil, err
}

// decrypt is Decrypt with one key, for a packet whose header (n bytes) is
// parsed in hdr.
func (k *srtpKey) decrypt(pkt []byte, n int, hdr *rtp.Header) ([]byte, error) {
	if len(pkt) < n+k.overhead {
		return nil, ErrMalformedPacket
	}
	if k.used >= k.lifetime {
		return nil, ErrSRTPKeyExpired
	}
	ssrc, seq := hdr.SSRC, hdr.SequenceNumber
	src := k.last
	if src == nil || src.ssrc != ssrc {
		src = k.sources[ssrc]
	}
	var roc uint32
	var diff int64
	if src != nil {
		roc, diff = src.estimate(seq)
		if src.replayed(uint64(roc)<<16|uint64(seq), k.window) {
			return nil, ErrSRTPReplay
		}
	}
	out, err := k.ctx.DecryptRTP(pkt, pkt, hdr)
	if err != nil {
		return nil, ErrSRTPAuth
	}
	if src == nil { // the first authenticated packet of this SSRC
		src = &srtpSource{ssrc: ssrc}
		k.sources[ssrc] = src
		roc, diff = src.estimate(seq)
	}
	src.accept(seq, roc, diff)
	k.last = src
	k.used++
	return out, nil
}

// Encrypt protects the RTP packet pkt and returns the SRTP packet, written
// to dst (reallocated when it is too small). dst may be pkt[:0] to encrypt
// in place when cap(pkt) >= len(pkt)+Overhead(); then nothing is
// allocated. It returns ErrSRTPKeyExpired, unwrapped, once the key's
// lifetime is used up.
func (c *SRTPContext) Encrypt(dst, pkt []byte) ([]byte, error) {
	if c.dir != srtpEncrypting {
		if c.dir != srtpUnused {
			return nil, errSRTPDirection
		}
		c.dir = srtpEncrypting
	}
	if c.next.Load() != nil {
		c.takeNext()
	}
	k := c.cur
	if k.used >= k.lifetime {
		return nil, ErrSRTPKeyExpired
	}
	out, err := k.ctx.EncryptRTP(dst, pkt, &c.hdr)
	if err != nil {
		return nil, fmt.Errorf("%w: SRTP protect: %v", ErrMalformedPacket, err)
	}
	k.used++
	return out, nil
}

// srtpSource is the receive state of one SSRC: the packet index estimate
// (RFC 3711 §3.3.1, computed exactly as pion/srtp does so that both agree
// on every packet's index) and the replay window over indexes (§3.3.2).
type srtpSource struct {
	ssrc    uint32
	started bool
	index   uint64 // highest index accepted (ROC<<16 | SEQ)
	seen    [maxWindow / 64]uint64
}

// estimate returns the rollover counter of a packet with sequence number
// seq, and how far its index is ahead of the highest one (negative:
// behind).
func (s *srtpSource) estimate(seq uint16) (uint32, int64) {
	roc := uint32(s.index >> 16)
	if !s.started {
		return roc, 0
	}
	local := int32(s.index & 0xffff)
	q := int32(seq)
	switch {
	case s.index <= 1<<15:
		return roc, int64(q - local)
	case local < 1<<15 && q-local > 1<<15:
		return roc - 1, int64(q - local - 1<<16)
	case local >= 1<<15 && local-1<<15 > q:
		return roc + 1, int64(q - local + 1<<16)
	}
	return roc, int64(q - local)
}

// replayed reports whether index was accepted already or is too old.
func (s *srtpSource) replayed(index, window uint64) bool {
	if !s.started || index > s.index {
		return false
	}
	if s.index-index >= window {
		return true
	}
	i := index % maxWindow
	return s.seen[i/64]&(1<<(i%64)) != 0
}

// accept records an authenticated packet.
func (s *srtpSource) accept(seq uint16, roc uint32, diff int64) {
	index := uint64(roc)<<16 | uint64(seq)
	switch {
	case !s.started:
		s.started = true
		s.index |= uint64(seq)
		s.seen = [maxWindow / 64]uint64{}
		index = s.index
	case diff > 0:
		if diff >= maxWindow {
			s.seen = [maxWindow / 64]uint64{}
		} else {
			for e := s.index + 1; e < index; e++ {
				i := e % maxWindow
				s.seen[i/64] &^= 1 << (i % 64)
			}
		}
		s.index = index
	}
	i := index % maxWindow
	s.seen[i/64] |= 1 << (i % 64)
}

// unprotect is the receive path's SRTP step: stream.process calls it, when
// the Receiver has an SRTPContext, after the address check (a stranger's
// packet costs no decryption) and before it parses the packet. It returns
// the decrypted packet, or nil when the packet was dropped and counted
// (malformed, forged, replayed, over the key's lifetime): such a packet
// never takes part in latching.
func (s *stream) unprotect(b []byte, from netip.AddrPort) []byte {
	out, err := s.srtp.Decrypt(b)
	if err == nil {
		return out
	}
	var n *uint64
	switch err {
	case ErrSRTPAuth:
		n = &s.st.AuthFailures
	case ErrSRTPReplay:
		n = &s.st.Replayed
	case ErrSRTPKeyExpired:
		n = &s.st.KeyExpired
	default:
		n = &s.st.Malformed
	}
	if *n++; *n == 1 {
		s.log.Debug("media: SRTP packet dropped", "why", err, "from", from, "len", len(b))
	}
	return nil
}
