package clients_test

import (
	"strings"
	"testing"

	"github.com/sesame-edu/sesame/server/clients"
)

func registry(verify func(hash, secret string) bool) *clients.Registry {
	return clients.NewRegistry([]clients.Client{
		{ID: "portail", Name: map[string]string{"fr": "Portail"}, Protocol: clients.OIDC,
			Secret: "$argon2id$stand-in", RedirectURIs: []string{"https://portail.lycee.example/cb"},
			PostLogoutRedirectURIs: []string{"https://portail.lycee.example/"}, Populations: []string{"parents"}},
		{ID: "trial", Name: map[string]string{"fr": "Essai"}, Protocol: clients.OIDC,
			Secret: "$plaintext$s3cret", RedirectURIs: []string{"http://localhost:9000/cb"}},
		{ID: "spa", Name: map[string]string{"fr": "Appli"}, Protocol: clients.OIDC,
			RedirectURIs: []string{"https://spa.lycee.example/cb"}},
		{ID: "pronote", Name: map[string]string{"fr": "Pronote"}, Protocol: clients.CAS,
			Service: "https://pronote.lycee.example/*", Attributes: clients.ProfilePronote},
		{ID: "moodle", Name: map[string]string{"fr": "Moodle"}, Protocol: clients.CAS,
			Service: "https://moodle.lycee.example/login/index.php"},
	}, clients.ForwardAuth{CookieDomain: "lycee.example", Hosts: []string{"cdi.lycee.example"}}, verify)
}

func TestServiceMatching(t *testing.T) {
	r := registry(nil)
	tests := []struct {
		service, want string
	}{
		{"https://pronote.lycee.example/pronote/parent.html", "pronote"},
		{"https://pronote.lycee.example/", "pronote"},
		{"https://pronote.lycee.example.attacker.example/", ""},
		{"https://pronote.lycee.example@attacker.example/", ""},
		{"http://pronote.lycee.example/", ""},
		{"https://moodle.lycee.example/login/index.php", "moodle"},
		{"https://moodle.lycee.example/login/index.php?x=1", ""},
		{"https://moodle.lycee.example/login/index.phpx", ""},
		{"https://portail.lycee.example/cb", ""}, // an OIDC client is no CAS service
		{"", ""},
	}
	for _, tt := range tests {
		c, ok := r.Service(tt.service)
		if got := c.ID; got != tt.want || ok != (tt.want != "") {
			t.Errorf("Service(%q) = %q, %v; want %q", tt.service, got, ok, tt.want)
		}
	}
}

func TestReturnAllowed(t *testing.T) {
	r := registry(nil)
	tests := []struct {
		url  string
		want bool
	}{
		{"https://cdi.lycee.example/catalogue?q=1", true},
		{"https://CDI.lycee.example/", true},
		{"http://cdi.lycee.example/", false},
		{"https://cdi.lycee.example:8443/", false},
		{"https://cdi.lycee.example.attacker.example/", false},
		{"https://attacker.example/?https://cdi.lycee.example/", false},
		{"https://user@cdi.lycee.example/", false},
		{"https://portail.lycee.example/", true},
		{"https://portail.lycee.example/cb", true},
		{"https://portail.lycee.example/other", false},
		{"https://pronote.lycee.example/eleve.html", true},
		{"//cdi.lycee.example/", false},
		{"https://cdi.lycee.example\\@attacker.example/", false},
		{"javascript:alert(1)", false},
	}
	for _, tt := range tests {
		if got := r.ReturnAllowed(tt.url, "https"); got != tt.want {
			t.Errorf("ReturnAllowed(%q) = %v, want %v", tt.url, got, tt.want)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	calls := 0
	r := registry(func(hash, secret string) bool { calls++; return hash == "$argon2id$stand-in" && secret == "right" })
	tests := []struct {
		id, secret string
		want       bool
	}{
		{"portail", "right", true},
		{"portail", "right", true}, // the second time from memory
		{"portail", "wrong", false},
		{"portail", "", false},
		{"trial", "s3cret", true},
		{"trial", "s3cre", false},
		{"spa", "", false}, // public: no secret authenticates it
		{"spa", "anything", false},
		{"nobody", "right", false},
	}
	for _, tt := range tests {
		if got := r.Authenticate(tt.id, tt.secret); got != tt.want {
			t.Errorf("Authenticate(%q, %q) = %v, want %v", tt.id, tt.secret, got, tt.want)
		}
	}
	if calls != 2 {
		t.Errorf("the slow hash ran %d times, want 2 (right once, then remembered; wrong once)", calls)
	}
	if w := strings.Join(r.Warnings(), "\n"); !strings.Contains(w, `"trial"`) || strings.Contains(w, `"portail"`) {
		t.Errorf("warnings = %q", w)
	}
}

func TestAdmits(t *testing.T) {
	r := registry(nil)
	p, _ := r.Client("portail")
	spa, _ := r.Client("spa")
	if !p.Admits("parents") || p.Admits("students") || !spa.Admits("students") {
		t.Error("populations are not admitted as declared")
	}
}
