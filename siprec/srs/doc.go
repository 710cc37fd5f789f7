// Package srs is a multi-tenant SIPREC recording server (SRS, RFC 7866) as a
// library: what a voice gateway that records calls for many accounts does
// between the SIP socket and the bucket, ready to embed.
//
// A [Server] takes a sipgo server (or makes one), a [tenancy.Store] and a
// recording directory, and for each SIPREC INVITE:
//
//   - guards it: connection caps, timeouts and size limits at the transport
//     ([sip.Listener], [sip.PacketConn]), then a [sip.Guard] (allowlist,
//     then digest) per account, the account found by the request's realm
//     through a [TenantCache]; in-dialog requests are checked against their
//     session's own account (the SIPREC server is the Guard's dialog owner);
//   - admits it: the account → its SIPREC application → [tenancy.Decide] →
//     a licensed session from the [tenancy.SessionLimiter] (486 past the
//     limit, 503 when the limiter cannot decide, 403 when the account does
//     not record);
//   - records it: one WAV or MP3 file per session through a
//     [recording.Dir], each m-line of the offer feeding its stream of the
//     recorder (a stereo file for a two-party call, the first m-line on the
//     left), pause and resume following a=inactive / a=sendonly; a
//     recording that can no longer be written (a full disk) ends its session
//     with a BYE carrying a Reason, so the client can fail over;
//   - uploads it: the finished file goes to a [storage.Spool] that keeps it
//     until the account's bucket ([AccountBuckets]) confirms it;
//   - journals it: a [Journal] row from the start of the session until its
//     session document is stored, so a crash loses nothing but the audio
//     not yet flushed ([SQLiteJournal] on SQLite; any store can back the
//     interface);
//   - recovers at start: recordings cut off by a crash are repaired and
//     uploaded, the sessions left in the journal get their documents,
//     webhooks and licences back; what fails while running is retried
//     while running ([Config.RetryInterval]);
//   - finishes it: an [insights.Session] document in the [insights.Index],
//     a signed session webhook ([WebhookEvent], retried), the licence back;
//   - reports it: an [Observer] is told every refusal, session, stream,
//     recording, upload and webhook, so metrics need no wrapper
//     (siprec/srs/srsprom is one, for Prometheus); [Server.HealthHandler]
//     answers a liveness probe, a [Readiness] over [ReadyCheck]s
//     ([Server.ReadyCheck], [DirWritable], [SQLiteFile] and the program's
//     own) a readiness probe; [NewOTLPTracerProvider] exports each
//     session's trace (Config.TracerProvider) to an OTLP/HTTP collector;
//     [ProbeAccountBuckets] tests each account's bucket at start.
//
// A change to an account counts at the next call once [Server.Invalidate]
// is called (an admin API's change notifier calls it); the cache's TTL only
// bounds changes made elsewhere.
//
// Every value a call needs travels typed: the admitted account, application
// and format are read once per call ([Admission]) and are what the
// [Session] carries to the sink, the journal, the document and the webhook.
//
// A single-tenant recording server needs none of that: [RecordToFile] and
// [RecordAndUpload] are ready-made [siprec.SinkFactory] values that record
// each session of a plain [siprec.Server] to a WAV or MP3 file, or upload it
// to one bucket.
//
// # Recording layout
//
// Each m-line of the initial offer is a stream of the session's recording,
// in m-line order, laid out as recording's LayoutAuto does:
//
//   - one stream: a mono file, SESSION.wav (or .mp3);
//   - two streams: a stereo file, the first m-line on the left, the second
//     on the right (the two parties, kept apart);
//   - a further stream sent by one participant (an announcement, a third
//     party) is mixed into both channels;
//   - a mixed stream, one whose metadata (RFC 7865) lists several
//     participants sending on it, next to other streams, is recorded to a
//     mono file of its own, SESSION.LABEL.wav, on the same timeline with
//     the same pauses, and uploaded beside the main file under
//     ACCOUNT/APPLICATION/SESSION.LABEL.wav; the parties' channels stay
//     unmixed. A session whose only streams are mixed records them as
//     above (they are the recording).
//
// recording's package documentation describes the layouts (LayoutPerStream,
// StreamConfig.Separate) for callers who lay out files of their own.
//
// # Where it sits
//
// srs is the top floor of voicegw's recording side: it may import media, sip,
// siprec, recording, storage, tenancy, rbac and insights, and nothing
// imports it but programs (examples/gateway is built on it). Its public
// API needs no internal package: the journal's SQLite database is opened by
// [OpenSQLiteJournal], or shared with the tenancy store through
// tenancy/sqlitestore.OpenDB and [NewSQLiteJournal].
//
// RFC 7866: https://www.rfc-editor.org/rfc/rfc7866
package srs
