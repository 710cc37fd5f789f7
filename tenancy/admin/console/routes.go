package console

import (
	"io/fs"
	"net/http"
)

// routes registers every page. Paths are under the prefix; GET pages read
// through the APIs, POST forms write through them and redirect.
func (c *Console) routes() {
	p := c.prefix
	m := http.NewServeMux()
	static, _ := fs.Sub(assets, "static")
	files := http.StripPrefix(p+"static/", http.FileServerFS(static))
	m.Handle("GET "+p+"static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	}))
	m.HandleFunc("GET "+p+"signin", c.signInPage)
	m.HandleFunc("POST "+p+"signin", c.signIn)
	for pattern, h := range map[string]func(*req){
		"POST signout": c.signOut,

		"GET {$}": c.dashboard,

		"GET calls":                c.calls,
		"GET calls/{id}":           c.call,
		"GET calls/{id}/recording": c.recordingFile,

		"GET accounts":               c.accounts,
		"POST accounts":              c.createAccount,
		"GET accounts/{sid}":         c.accountPage,
		"POST accounts/{sid}":        c.saveAccount,
		"POST accounts/{sid}/rotate": c.rotateSecret,

		"GET applications":               c.applications,
		"POST applications":              c.createApplication,
		"POST applications/{app}":        c.saveApplication,
		"POST applications/{app}/delete": c.deleteApplication,

		"GET sip":                        c.sip,
		"POST sip/users":                 c.addSIPUser,
		"POST sip/users/{user}/password": c.setSIPPassword,
		"POST sip/users/{user}/delete":   c.deleteSIPUser,
		"POST sip/allowlist":             c.saveAllowlist,

		"GET recording":       c.recording,
		"POST recording":      c.saveRecording,
		"POST recording/test": c.testRecording,

		"GET cad":  c.cad,
		"POST cad": c.saveCAD,

		"GET keys":              c.keys,
		"POST keys":             c.createKey,
		"POST keys/{id}/delete": c.deleteKey,

		"GET members":                c.membersPage,
		"POST members":               c.createMember,
		"POST members/{id}":          c.saveMember,
		"POST members/{id}/password": c.setMemberPassword,
		"POST members/{id}/delete":   c.deleteMember,
		"POST roles":                 c.createRole,
		"GET roles/{id}":             c.rolePage,
		"POST roles/{id}":            c.saveRole,
		"POST roles/{id}/delete":     c.deleteRole,

		"GET smtp":       c.smtp,
		"POST smtp":      c.saveSMTP,
		"POST smtp/test": c.testSMTP,
	} {
		method, path, _ := cut(pattern)
		m.Handle(method+" "+p+path, c.member(h))
	}
	m.Handle(p, c.member(func(q *req) { q.notFound("No such page.") }))
	c.mux = m
}

func cut(pattern string) (string, string, bool) {
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == ' ' {
			return pattern[:i], pattern[i+1:], true
		}
	}
	return pattern, "", false
}

// notFound answers 404 with the console's page.
func (q *req) notFound(text string) {
	q.page(http.StatusNotFound, "message", "Not found", "", messageView{Heading: "Not found", Text: text}, nil)
}

// messageView is the data of the plain message page.
type messageView struct {
	Heading, Text string
}
