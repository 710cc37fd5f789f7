// Package console is the web console of a voicegw gateway: the pages
// operators use (seed 000's Accounts and Recent calls, seed 002's System &
// Access), as an http.Handler a gateway mounts at /console/.
//
//	con, err := console.New(console.Config{Admin: adminConfig, Insights: insightsConfig})
//	mux.Handle("/console/", con)
//
// # Built on the APIs
//
// The console has no logic of its own: every page reads, and every form
// writes, through the admin API (package admin) and the Insights API
// (package insights), with their typed clients. Their requests do not leave
// the process: New builds the console's own handlers from the same
// configurations the gateway gives admin.NewHandler and
// insights.NewHandler, whose only caller is the signed-in member (the
// admin API's Authenticator and the Insights API's Authenticate read the
// member from the request's context, which nothing a browser sends can
// set). So each action is authorized by the APIs, for the member's role and
// scope, exactly as for an API key: a field the member's scope may not set
// (seed 000: unit, licensed sessions) is refused by the admin API and the
// form says which; a member of one account reaches nothing of another,
// whatever URL it types. Fields the member may not set are shown read-only,
// as the admin API's OpenAPI document marks them (x-voicegw-scope).
//
// # Pages
//
// Dashboard (calls per day by status and their average duration, from the
// Insights API's aggregations, drawn as SVG on the server), Recent calls
// (search by dates, status, source and destination; duration and status;
// the session's details, its recording played with seeking, and download),
// Accounts with their settings, Applications, SIP users and IP allowlist,
// Recording with the bucket's Test, Call attached data, API keys (secret
// shown once, with a copy button; listed masked; deleted), Members and
// roles (the privilege grid per entity), SMTP with its Test. Pages are
// server-rendered HTML with one stylesheet and one small script, embedded
// (no Node build); every page works without JavaScript, by keyboard (a skip
// link, labelled controls, landmarks, focus moved to errors), and on a
// phone's screen.
//
// # Sign-in and sessions
//
// Members sign in with their email and password (rbac.MemberStore keeps an
// Argon2id hash; admin's PUT /members/{id}/password sets it, FirstSignIn
// makes the first one). Sessions live on the server: the cookie holds a
// random 256-bit ID (HttpOnly, SameSite=Strict, Secure over TLS or with
// Config.SecureCookies, scoped to the console's path), a new ID is issued
// at every sign-in (no session fixation), and a session ends at sign-out,
// after Config.SessionIdle without a request, Config.SessionMax after
// sign-in, or when its member is deleted. Every form carries the session's
// CSRF token (the sign-in form a double-submit one), and cross-origin
// browser POSTs are refused before that (net/http's CrossOriginProtection).
// Failed sign-ins lock the email after Config.LockoutThreshold within
// Config.LockoutDuration, and throttle the source address
// (Config.FailedSignIns, an rbac.FailureLimiter to share with the APIs).
// Wrong password and unknown email get the same answer.
//
// # Recordings
//
// The player and the download link fetch the recording from the console,
// which first reads the session through the Insights API as the member,
// then hands it to Config.Playback: LinkPlayback follows the playable link
// of the session document (a bucket's signed URL, or a gateway endpoint
// served in-process), StoredPlayback serves the object the gateway reads
// from the account's bucket, with Range requests either way.
package console
