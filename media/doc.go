// Package media receives and sends telephone audio over RTP.
//
// It owns the pieces a voice gateway needs below the signalling layer:
//
//   - SDP offer/answer for audio (RFC 4566, RFC 3264) on top of pion/sdp/v3:
//     PCMU (0), PCMA (8) and telephone-event (RFC 4733), several labelled
//     m=audio lines as SIPREC (RFC 7866) offers them, direction mirroring.
//   - RTP receive (RFC 3550) on UDP endpoints taken from a port pool: source
//     latching, SSRC changes, sequence wrap-around, a reorder buffer, duplicate
//     suppression and per-stream statistics (received, lost, duplicates, out of
//     order, interarrival jitter).
//   - G.711 μ-law and A-law decoding to 16-bit PCM and back, with lost packets
//     and timestamp jumps delivered as explicit gaps so a recorder can fill
//     silence of the exact length.
//   - RFC 4733 telephone-event (DTMF) decoding, one event per key press.
//   - RTP send: packetizing PCM or G.711 at the negotiated ptime.
//
// The package imports nothing else of voicegw; recording and siprec build on it.
package media
