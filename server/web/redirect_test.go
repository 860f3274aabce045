package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/web"
)

// browserTarget reads a Location the way a browser does on a page of
// http://sesame.test (WHATWG URL parsing, reduced to what decides the
// origin): leading and trailing C0 controls and spaces are stripped, ASCII
// tab, CR and LF removed anywhere, and a backslash is a slash. It reports
// whether the browser stays on the site.
func browserTarget(loc string) (sameSite bool) {
	loc = strings.TrimFunc(loc, func(r rune) bool { return r <= 0x20 })
	loc = strings.NewReplacer("\t", "", "\r", "", "\n", "").Replace(loc)
	if hasScheme(loc) {
		return false // another site, or javascript:
	}
	loc = strings.ReplaceAll(loc, `\`, "/")
	return strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//")
}

// hasScheme reports whether s starts with a URL scheme and its colon.
func hasScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return true
		default:
			return false
		}
	}
	return false
}

// checkLocalPath holds the properties every answer of localPath has,
// whatever it was given.
func checkLocalPath(t *testing.T, in, got string) {
	t.Helper()
	if !browserTarget(got) {
		t.Errorf("localPath(%q) = %q: a browser leaves the site", in, got)
	}
	if strings.ContainsFunc(got, func(r rune) bool { return r <= 0x20 || r == 0x7f || r == '\\' || r > 0x7e }) {
		t.Errorf("localPath(%q) = %q: holds bytes a browser rewrites", in, got)
	}
	u, err := url.Parse(got)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		t.Errorf("localPath(%q) = %q: parses to %#v (%v)", in, got, u, err)
	}
	if again := web.LocalPath(got); again != got {
		t.Errorf("localPath(%q) = %q, but localPath(%q) = %q", in, got, got, again)
	}
}

// TestLocalPath holds finding 5: ?next= on /lang/ must not send anyone to
// another site, whatever quirk of browsers' URL parsing it relies on.
func TestLocalPath(t *testing.T) {
	long := "/" + strings.Repeat("a", 5000)
	tests := []struct{ name, in, want string }{
		// What the pages build: kept (query re-encoded, keys sorted).
		{"root", "/", "/"},
		{"path and query", "/login?x=1", "/login?x=1"},
		{"population", "/recovery?population=parents", "/recovery?population=parents"},
		{"query re-encoded", "/a?b=2&a=1", "/a?a=1&b=2"},
		{"space in query", "/a?x=a b", "/a?x=a+b"},
		{"nested path", "/help/parents", "/help/parents"},
		{"space inside", "/a b", "/a%20b"},
		{"non-ASCII", "/é", "/%C3%A9"},
		{"unicode space inside", "/\u00a0/other.host", "/%C2%A0/other.host"},
		{"line separator inside", "/\u2028/other.host", "/%E2%80%A8/other.host"},
		{"fullwidth solidus inside", "/\uff0fother.host", "/%EF%BC%8Fother.host"},
		{"encoded tab stays encoded", "/%09/other.host", "/%09/other.host"},
		{"encoded slash inside", "/a%2Fb", "/a%2Fb"},
		{"at sign in path", "/@other.host", "/@other.host"},
		{"fragment dropped", "/login#//other.host", paths.Login},
		{"longest kept", "/" + strings.Repeat("a", web.MaxNext-1), "/" + strings.Repeat("a", web.MaxNext-1)},

		// Browsers remove tab, CR and LF: refused wherever they are.
		{"tab after slash (the finding)", "/\t/other.host/x", "/"},
		{"tab first", "\t//other.host", "/"},
		{"tab at end", "/login\t", "/"},
		{"newline after slash", "/\n/other.host", "/"},
		{"CR after slash", "/\r/other.host", "/"},
		{"CRLF header split", "/\r\nSet-Cookie: x=1", "/"},
		{"NUL", "/login\x00", "/"},
		{"leading NUL", "\x00//other.host", "/"},
		{"DEL", "/\x7f/other.host", "/"},
		{"leading space", " //other.host", "/"},
		{"trailing space", "/login ", "/"},

		// Backslashes are slashes to a browser.
		{"slash backslash", "/\\other.host", "/"},
		{"two backslashes", `\\other.host`, "/"},
		{"one backslash", `\other.host`, "/"},
		{"slash backslash slash", `/\/other.host`, "/"},
		{"backslash later", `/a\b`, "/"},

		// Scheme-relative, in every spelling.
		{"two slashes", "//other.host", "/"},
		{"three slashes", "///other.host", "/"},
		{"encoded second slash", "/%2F/other.host", "/"},
		{"encoded second slash, lower case", "/%2fother.host", "/"},
		{"both slashes encoded", "%2F%2Fother.host", "/"},
		{"encoded backslash", "/%5Cother.host", "/"},
		{"encoded backslash, lower case", "/%5cother.host", "/"},
		{"userinfo", "//user@other.host", "/"},

		// Schemes.
		{"http", "http://other.host/", "/"},
		{"http without slashes", "http:other.host", "/"},
		{"upper-case scheme", "HTTPS://other.host", "/"},
		{"javascript", "javascript:alert(1)", "/"},
		{"javascript mixed case", "JaVaScRiPt:alert(1)", "/"},
		{"data", "data:text/html,<script>alert(1)</script>", "/"},

		// Not a path.
		{"empty", "", "/"},
		{"relative", "login", "/"},
		{"dot relative", "./login", "/"},
		{"query only", "?next=//other.host", "/"},
		{"fragment only", "#//other.host", "/"},
		{"leading unicode space", "\u00a0//other.host", "/"},
		{"leading ideographic space", "\u3000/login", "/"},
		{"leading line separator", "\u2028//other.host", "/"},
		{"fullwidth solidi", "\uff0f\uff0fother.host", "/"},
		{"bad escape in path", "/%zz", "/"},
		{"bad escape in query", "/a?x=%zz", "/"},
		{"too long", long, "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := web.LocalPath(tt.in)
			if got != tt.want {
				t.Errorf("localPath(%q) = %q, want %q", tt.in, got, tt.want)
			}
			checkLocalPath(t, tt.in, got)
		})
	}
}

// FuzzLocalPath checks that nothing leads a browser off the site.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/", "/login?x=1", "/\t/other.host", `/\other.host`, "//x", "/%2F/x", "http:x", "/\u00a0/x", "/a?b=%2F%2F"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkLocalPath(t, in, web.LocalPath(in))
	})
}

// TestLanguageSwitchStaysOnSite sends the quirks through the real route,
// where Fiber decodes the query string once before localPath sees it.
func TestLanguageSwitchStaysOnSite(t *testing.T) {
	a := newTestApp(t)
	tests := []struct{ name, rawQuery, want string }{
		{"tab (the finding)", "next=/%09/other.host/x", "/"},
		{"newline", "next=/%0A/other.host", "/"},
		{"CR", "next=/%0D/other.host", "/"},
		{"backslash", "next=/%5Cother.host", "/"},
		{"double-encoded slash", "next=/%252F/other.host", "/"},
		{"double-encoded backslash", "next=/%255Cother.host", "/"},
		{"all encoded", "next=%2F%09%2Fother.host", "/"},
		{"scheme", "next=https%3A%2F%2Fother.host", "/"},
		{"kept", "next=%2Flogin%3Fx%3D1", "/login?x=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := a.get("/lang/en?" + tt.rawQuery)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("status %d, want 303", resp.StatusCode)
			}
			if got := resp.Header.Get("Location"); got != tt.want {
				t.Errorf("Location %q, want %q", got, tt.want)
			}
		})
	}
}

// TestLocalPathShortStrings tries every string of up to four characters
// drawn from those that browsers treat specially in a URL.
func TestLocalPathShortStrings(t *testing.T) {
	alphabet := []string{"/", `\`, "%", "2", "F", "5", "C", "0", "9", "\t", "\n", " ", ":", "@", "?", "#", ".", "h", "\u00a0"}
	n := 4
	if testing.Short() {
		n = 3
	}
	var walk func(prefix string, left int)
	walk = func(prefix string, left int) {
		checkLocalPath(t, prefix, web.LocalPath(prefix))
		if left == 0 || t.Failed() {
			return
		}
		for _, c := range alphabet {
			walk(prefix+c, left-1)
		}
	}
	walk("", n)
}
