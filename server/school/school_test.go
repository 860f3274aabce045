package school

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestExampleFileLoads(t *testing.T) {
	c, err := Load("../../config.example.yaml")
	if err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
	if c.School.Name != "Lycée Jean Moulin" || len(c.Populations) != 5 || !c.NeedsChooser() {
		t.Fatalf("got %+v", c.School)
	}
	staff, ok := c.Population("staff")
	if !ok || staff.Policy.MinLength != 12 || staff.Mailbox.Redirect != "optional" {
		t.Errorf("staff = %+v", staff)
	}
	if cs, _ := c.Population("contract-staff"); cs.Mailbox.Redirect != "mandatory" {
		t.Errorf("contract staff redirect = %q", cs.Mailbox.Redirect)
	}
	if _, ok := c.Population("aliens"); ok {
		t.Error("an unknown population matched")
	}
	// Staff have no help desk of their own: the support desk answers.
	if staff.Help.Email != "assistance@region.example" {
		t.Errorf("staff help desk = %q", staff.Help.Email)
	}
	parents, _ := c.Population("parents")
	if !strings.Contains(strings.Join(parents.Policy.ContextWords, ","), "Montpellier") {
		t.Errorf("the town is not a context word: %v", parents.Policy.ContextWords)
	}
	weak := strings.Join(c.WeakPolicies(), "\n")
	for _, want := range []string{`"parents"`, `"students"`} {
		if !strings.Contains(weak, want) {
			t.Errorf("weak policies %q lack %s", weak, want)
		}
	}
	if strings.Contains(weak, `"staff"`) || strings.Contains(weak, `"officials"`) {
		t.Errorf("strong policies reported weak: %q", weak)
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	if c.NeedsChooser() {
		t.Error("the default configuration asks who you are")
	}
	for _, key := range []string{"parents", "staff", "anything"} {
		if p, ok := c.Population(key); !ok || p.Key != DefaultPopulation {
			t.Errorf("default config: Population(%q) = %v, %v", key, p, ok)
		}
	}
	if len(c.WeakPolicies()) != 0 {
		t.Errorf("the default policy is weak: %v", c.WeakPolicies())
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"syntax", "school:\n  name: [unclosed\n", "x.yaml:2:"},
		{"unknown key", "school:\n  name: A\n  colour: red\npopulations:\n  - key: p\n    label: {fr: P}\n", "x.yaml:3:"},
		{"missing name", "school:\n  town: X\npopulations:\n  - key: p\n    label: {fr: P}\n", "x.yaml:2: school.name"},
		{"bad key", "school: {name: A}\npopulations:\n  - key: P Q\n    label: {fr: P}\n", "x.yaml:3: populations[0].key"},
		{"duplicate population", "school: {name: A}\npopulations:\n  - key: p\n    label: {fr: P}\n  - key: p\n    label: {fr: Q}\n", "x.yaml:5: populations[1].key"},
		{"bad policy", "school: {name: A}\npopulations:\n  - key: p\n    label: {fr: P}\n    password_policy:\n      min_length: 20\n      max_length: 10\n", "x.yaml:7: populations[0].password_policy.max_length"},
		{"bad mailbox", "school: {name: A}\npopulations:\n  - key: p\n    label: {fr: P}\n    mailbox: {domain: x, pattern: nom, redirect: maybe}\n", "populations[0].mailbox.domain"},
		{"bad hours", "school: {name: A}\npopulations:\n  - key: p\n    label: {fr: P}\nsupport:\n  hours:\n    slots:\n      - {day: funday, from: '10:00', to: '11:00'}\n", "x.yaml:8: support.hours.slots[0].day"},
		{"population name without French", "school: {name: A}\npopulations:\n  - key: p\n    name: {en: Parents}\n    label: {fr: P}\n", "x.yaml:4: populations[0].name"},
		{"wrong type", "school: {name: A}\npopulations: 3\n", "x.yaml:2:"},
		{"no population", "school: {name: A}\n", "populations"},
		{"client without protocol", "school: {name: A}\npopulations:\n  - key: parents\n    label: {fr: P}\nclients:\n  - id: app\n    name: {fr: App}\n", "x.yaml:6: clients[0].protocol"},
		{"client redirect over http", "school: {name: A}\npopulations:\n  - key: parents\n    label: {fr: P}\nclients:\n  - id: app\n    name: {fr: App}\n    protocol: oidc\n    redirect_uris: [http://app.example/cb]\n", "x.yaml:9: clients[0].redirect_uris[0]"},
		{"client secret not a hash", "school: {name: A}\npopulations:\n  - key: parents\n    label: {fr: P}\nclients:\n  - id: app\n    name: {fr: App}\n    protocol: oidc\n    secret: hunter2\n    redirect_uris: [https://app.example/cb]\n", "x.yaml:9: clients[0].secret"},
		{"client unknown population", "school: {name: A}\npopulations:\n  - key: parents\n    label: {fr: P}\nclients:\n  - id: app\n    name: {fr: App}\n    protocol: oidc\n    redirect_uris: [https://app.example/cb]\n    populations: [parents, aliens]\n", "clients[0].populations[1]: no population \"aliens\""},
		{"cas pattern open host", "school: {name: A}\npopulations:\n  - key: parents\n    label: {fr: P}\nclients:\n  - id: pronote\n    name: {fr: Pronote}\n    protocol: cas\n    service: https://pronote.example*\n", "x.yaml:9: clients[0].service"},
		{"duplicate client", "school: {name: A}\npopulations:\n  - key: parents\n    label: {fr: P}\nclients:\n  - id: app\n    name: {fr: App}\n    protocol: cas\n    service: https://a.example/\n  - id: app\n    name: {fr: App}\n    protocol: cas\n    service: https://b.example/\n", "x.yaml:10: clients[1].id"},
		{"legal footer without French", "school: {name: A}\npopulations:\n  - key: p\n    label: {fr: P}\nmail:\n  legal:\n    en: Write to the DPO.\n", "mail.legal: a French text"},
		{"legal footer in an unknown language", "school: {name: A}\npopulations:\n  - key: p\n    label: {fr: P}\nmail:\n  legal:\n    fr: Écrire au DPO.\n    de: Schreiben.\n", "x.yaml:8: mail.legal.de"},
		{"legal footer with a control character", "school: {name: A}\npopulations:\n  - key: p\n    label: {fr: P}\nmail:\n  legal:\n    fr: \"Écrire\\u202e au DPO.\"\n", "mail.legal.fr: holds control"},
		{"forward-auth host outside the cookie domain", "school: {name: A}\npopulations:\n  - key: parents\n    label: {fr: P}\nforward_auth:\n  cookie_domain: lycee.example\n  hosts: [cdi.lycee.example, wiki.other.example]\n", "x.yaml:7: forward_auth.hosts[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tt.yaml))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(os.DevNull + "/nope.yaml")
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("err = %v", err)
	}
}

func TestDeskAndLetters(t *testing.T) {
	c, err := Parse("desk.yaml", []byte("school: {name: X}\npopulations: [{key: parents, label: {fr: Parents}}]\ndesk:\n  helpdesk: [S210, Secretariat]\n  admins: [informatique]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"s210": "helpdesk", "secretariat": "helpdesk", "informatique": "admin", "p001": "", "": ""} {
		if got := c.DeskRole(id); got != want {
			t.Errorf("DeskRole(%q) = %q, want %q", id, got, want)
		}
	}
	if c.Letters.ValidDays != 30 || c.Letters.Name != "Sésame" {
		t.Errorf("letters default to %d days and %q", c.Letters.ValidDays, c.Letters.Name)
	}
	if c, err := Parse("l.yaml", []byte("school: {name: X}\npopulations: [{key: parents, label: {fr: Parents}}]\nletters: {name: \"   \"}\n")); err != nil || c.Letters.Name != "Sésame" {
		t.Errorf("a blank letters.name: %q, %v; want the default", c.Letters.Name, err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"desk:\n  helpdesk: [\"a b\"]\n", "bad.yaml:4: desk.helpdesk[0]"},
		{"desk:\n  admins: [x, X]\n", "bad.yaml:4: desk.admins[1]: \"X\" is listed twice"},
		{"letters:\n  valid_days: 400\n", "bad.yaml:4: letters.valid_days"},
		{"letters:\n  name: \"" + strings.Repeat("PASS'UM ", 6) + "\"\n", "bad.yaml:4: letters.name"},
		{"desk:\n  owners: [x]\n", "bad.yaml:4"},
	} {
		_, err := Parse("bad.yaml", []byte("school: {name: X}\npopulations: [{key: parents, label: {fr: Parents}}]\n"+tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// TestPopulationNameText: a population is spoken of by its name, in the
// asked language, then French; without a name, by its chooser label.
func TestPopulationNameText(t *testing.T) {
	named := Population{Name: map[string]string{"fr": "Parents d'élèves", "en": "Parents"}, Label: map[string]string{"fr": "Je suis parent d'élève"}}
	unnamed := Population{Label: map[string]string{"fr": "Je suis élève", "en": "I am a student"}}
	for _, c := range []struct {
		p          Population
		lang, want string
	}{
		{named, "fr", "Parents d'élèves"},
		{named, "en", "Parents"},
		{named, "de", "Parents d'élèves"},
		{unnamed, "en", "I am a student"},
		{unnamed, "fr", "Je suis élève"},
	} {
		if got := c.p.NameText(c.lang); got != c.want {
			t.Errorf("%v in %s: %q, want %q", c.p.Key, c.lang, got, c.want)
		}
	}
}
