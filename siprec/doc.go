// Package siprec implements SIP-based Media Recording: RFC 7866 (the
// protocol), RFC 7865 (the recording metadata) and the call flows of RFC 8068.
//
// It has both sides of a recording session: the recording server (SRS) that
// accepts SIPREC INVITEs from SBCs and PBXs and streams each labelled stream's
// decoded audio to a sink, and the recording client (SRC) dialog manager that
// starts, stops, pauses and resumes recording of a call to one or more
// recording servers in parallel. The metadata model (application/rs-metadata+xml)
// and multipart/mixed bodies are shared by both.
//
// # Metadata
//
// The RFC 7865 model lives in the sub-package [metadata]: [metadata.Parse]
// (tolerant of what recording clients in the field send),
// [metadata.Recording.Marshal] (canonical), [metadata.State] (partial updates
// merged, changes reported), [metadata.Recording.CheckLabels] and
// [metadata.Recording.ParticipantStreams] (the relation to the SDP's a=label
// values), [metadata.NewComplete] (the document a client sends) and the
// recording ID extension ([metadata.Recording.RecordingID]).
//
// # Bodies
//
// A SIPREC INVITE carries a multipart/mixed body with an application/sdp part
// and an application/rs-metadata+xml part marked Content-Disposition:
// recording-session (RFC 7866 §8.1). [ParseBody] reads it (and the SDP-only or
// metadata-only bodies of later requests), tolerating quoted or bare
// boundaries, CRLF or LF line ends, a preamble and an epilogue, the
// application/rs-metadata type, and a missing closing delimiter. Its errors
// map to SIP responses: [ErrMalformedBody], [ErrNoMetadata], [ErrNoSDP] and
// [ErrBadMetadata] to 400, [ErrMetadataTooLarge] to 413,
// [ErrUnsupportedBody] to 415. [BuildBody] writes the body of a client's
// request with CRLF line ends and a random boundary. [ParseMultipart] and
// [BuildMultipart] are the lower-level part splitting and writing.
//
// # Recording server
//
// [Server] is the SRS. It plugs into a sipgo server ([Server.Register], or
// [Server.Handle] as a sip.Handler behind a sip.Guard), asks a [Policy]
// whether to take each SIPREC INVITE, answers with plain application/sdp (one
// recvonly m-line per offered m-line, labels kept), receives each stream with
// package media, and hands the session to a [SessionSink] made by the
// [Admission]'s Sink constructor (a closure of the Policy, which carries
// the tenant's account to the sink typed) or a [SinkFactory]: each stream's
// decoded audio through a media.Handler, and pause, resume, metadata
// changes, added and removed streams and the end. [Config.OnReject]
// reports each refusal of an initial INVITE with a stable reason (the
// Reject constants), for metrics. [Session.Hangup] ends a session from the
// server side with a BYE carrying a Reason header (RFC 3326), so that the
// client can fail over when the recording cannot go on.
//
// Encrypted recording: behind a sipgo server's ServeTLS on a sip.Listener (which
// does the TLS handshake), the Server takes SRTP keyed by SDES (RFC 3711, RFC
// 4568): RTP/SAVP lines with a=crypto are answered with a key of its own and
// each stream is decrypted before the sink, forged and replayed packets
// dropped and counted ([SRTPConfig]). a=crypto over clear signalling is
// refused (488, [ErrClearSDES]); SRTP can be required for every session or
// per Admission (488 with a Warning, [ErrSRTPRequired]).
//
// A request sent in a session's dialog acts on it only when it speaks for
// the session's tenant (the sip.Identity the INVITE was admitted with);
// others are answered as for an unknown dialog (481). The Server is a
// sip.DialogOwner ([Server.DialogIdentity]): a sip.Guard given it checks
// in-dialog requests against the owner's tenant (allowlist, digest user)
// rather than the tenant their Request-URI names.
//
// Metadata over [Config.MaxMetadataSize] ([DefaultMaxMetadataSize], 16 KiB)
// is answered 413 over UDP and TCP; a request larger than sipgo reads (32
// KiB per UDP datagram, 65,535 bytes per TCP message by default) never
// reaches the Server and gets no answer at all.
// Over UDP, sipgo reads messages of up to 32 KiB (a SIPREC INVITE is about
// 3 KB) but sends none over 1300 bytes (UDPMTUSize of
// github.com/emiago/sipgo/sip less 200, a process-wide variable): the
// Server's answers fit for up to about 6 streams (10 without
// telephone-event), and a larger one is refused with 513
// ([ErrAnswerTooLarge]) so the client retries over TCP; a program that wants
// more over UDP raises that variable in its main.
//
// # Recording client
//
// [Client] is the SIP user agent of a recording client (SRC); [Client.NewManager]
// gives each call a [Manager] whose Start, Pause, Resume and Stop open,
// re-INVITE (a=inactive / a=sendonly) and end a SIPREC dialog with every
// recording server of a [URIList] in parallel (RFC 7866 §6), located with
// RFC 3263 ([Resolve], through an injectable [Resolver]). [ParseURIList]
// accepts only sip: and sips: URIs. Each labelled stream of the call is a
// [Fork] that sends the leg's audio to every live recorder with its own SSRC,
// nothing while paused, without allocating. Errors are those of seed 003
// ([ErrAlreadyStarted], [ErrDuplicateStart], [ErrNoRecorderURL],
// [ErrInvalidURI], [ErrNotRecording]...); [InfoAdapter] answers the
// call controller's startCallRecording / stopCallRecording / pauseCallRecording
// / resumeCallRecording INFO requests. A recorded call stays one licensed
// session: nothing here counts the recording dialogs or streams.
// Recorders reached over TLS (sips:) get every stream as SRTP with a key
// of its own, and an answer that would take one in clear is refused
// ([ClientSRTPConfig]).
// RFC 3263: https://www.rfc-editor.org/rfc/rfc3263.
//
// RFC 7866: https://www.rfc-editor.org/rfc/rfc7866 ·
// RFC 7865: https://www.rfc-editor.org/rfc/rfc7865 ·
// RFC 8068: https://www.rfc-editor.org/rfc/rfc8068
package siprec
