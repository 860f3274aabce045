package cas_test

import (
	"bytes"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/cas"
	"github.com/sesame-edu/sesame/server/clients"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
// The web package's round-trip tests read the same files, so that what
// the endpoints answer is what is checked here.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./server/cas/ -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// anne is a parent whose name needs escaping in XML.
var anne = account.Account{ID: "p001", Identifier: "P001", FirstName: "Anne", LastName: "Durand <& Fils>",
	Email: "famille.durand@example.fr", Population: "parents"}

// GoldenAuthTime is the authentication date of the golden answers; the
// web tests put it in place of the real one.
var goldenAuthTime = time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC)

func TestGoldenAnswers(t *testing.T) {
	pronote := clients.Client{ID: "pronote", Protocol: clients.CAS, Attributes: clients.ProfilePronote}
	def := clients.Client{ID: "cdi", Protocol: clients.CAS}
	ok := func(c clients.Client, acc account.Account) cas.Validation {
		return cas.Validation{Account: acc, Client: c, Ticket: cas.Ticket{AuthTime: goldenAuthTime, Renewed: true}}
	}
	tests := []struct {
		file string
		got  []byte
	}{
		{"success_pronote.xml", cas.RenderSuccess(cas.SuccessOf(ok(pronote, anne)))},
		{"success_default.xml", cas.RenderSuccess(cas.SuccessOf(ok(def, anne)))},
		{"failure_invalid_ticket.xml", cas.RenderFailure(cas.InvalidTicket, "ticket not recognized")},
		{"failure_invalid_service.xml", cas.RenderFailure(cas.InvalidService, "ticket was not issued for this service")},
		{"validate_yes.txt", cas.RenderValidate(ok(def, anne))},
		{"validate_no.txt", cas.RenderValidate(cas.Validation{Code: cas.InvalidTicket})},
		{"logout_request.xml", cas.RenderLogoutRequest("LR-0123456789abcdef", "ST-AAAAAAAAAAAAAAAAAAAAAAAAAAAA", goldenAuthTime)},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			golden(t, tt.file, tt.got)
			if filepath.Ext(tt.file) == ".xml" {
				// Well-formed, whatever the names hold.
				if err := xml.Unmarshal(tt.got, new(struct{})); err != nil {
					t.Errorf("not well-formed XML: %v", err)
				}
			}
		})
	}
}

func TestCategory(t *testing.T) {
	own := clients.Client{Categories: map[string]string{"staff": "Enseignant", "parents": "Responsable"}}
	tests := []struct {
		c          clients.Client
		population string
		want       string
	}{
		{clients.Client{}, "students", cas.CategoryStudent},
		{clients.Client{}, "eleves", cas.CategoryStudent},
		{clients.Client{}, "parents", cas.CategoryParent},
		{clients.Client{}, "teachers", cas.CategoryTeacher},
		{clients.Client{}, "enseignants", cas.CategoryTeacher},
		{clients.Client{}, "staff", cas.CategoryStaff},
		{clients.Client{}, "contract-staff", cas.CategoryStaff},
		{own, "staff", "Enseignant"},
		{own, "parents", "Responsable"},
		{own, "students", cas.CategoryStudent},
	}
	for _, tt := range tests {
		if got := cas.Category(tt.c, tt.population); got != tt.want {
			t.Errorf("Category(%v, %q) = %q, want %q", tt.c.Categories, tt.population, got, tt.want)
		}
	}
}

func TestWithTicket(t *testing.T) {
	tests := []struct{ service, want string }{
		{"https://app.example/", "https://app.example/?ticket=ST-1"},
		{"https://app.example/login?next=%2Fhome", "https://app.example/login?next=%2Fhome&ticket=ST-1"},
		{"https://app.example/page#top", "https://app.example/page?ticket=ST-1#top"},
	}
	for _, tt := range tests {
		if got := cas.WithTicket(tt.service, "ST-1"); got != tt.want {
			t.Errorf("WithTicket(%q) = %q, want %q", tt.service, got, tt.want)
		}
	}
}
