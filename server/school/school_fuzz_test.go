package school

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// parseWithin runs Parse and fails if it takes longer than d: a
// configuration file must never hang the program at start.
func parseWithin(t *testing.T, data []byte, d time.Duration) (*Config, error) {
	t.Helper()
	type result struct {
		c   *Config
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := Parse("fuzz.yaml", data)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		return r.c, r.err
	case <-time.After(d):
		t.Fatalf("Parse did not return within %v on %d bytes: %q", d, len(data), data)
		return nil, nil
	}
}

// FuzzParse feeds arbitrary configuration files to Parse. A bad file must
// stop the program with a message, never a panic; an accepted one must
// hold what every page relies on without checking again.
func FuzzParse(f *testing.F) {
	if example, err := os.ReadFile("../../config.example.yaml"); err == nil {
		f.Add(example)
	}
	for _, s := range []string{
		"school: {name: X}\npopulations: [{key: parents, label: {fr: Parents}}]\n",
		"school: {name: X}\npopulations: [{key: a, label: {fr: A}}, {key: a, label: {fr: B}}]\n",
		"school: {name: X}\npopulations: []\n",
		"school: {name: X}\npopulations:\n  - key: staff\n    label: {fr: S}\n    password_policy: {min_length: 20, max_length: 10}\n    mailbox: {domain: x, pattern: y, redirect: z}\n",
		"school: {name: X}\npopulations:\n  - key: p\n    label: {fr: P}\n    helpdesk:\n      email: a@b.fr\n      hours:\n        slots: [{day: funday, from: \"25:00\", to: \"01:00\"}]\n",
		"school: {name: X, primary_color: red, logo_url: http://x}\nrecovery: {code_minutes: -1, requests_per_ip_hour: 1000000}\npopulations: [{key: P, label: {fr: P}}]\n",
		"&a [*a]",
		"school: &s {name: X}\npopulations: [{key: p, label: {fr: *s}}]\n",
		"populations:\n  - key: p\n    label: {fr: P}\n    unknown_field: 1\n",
		"school:\n  name: X\npopulations:\n- key: p\n  label:\n    fr: P\n  password_policy: null\n  helpdesk: null\n",
		"\t\x00: [",
		"---\n...\n---\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseWithin(t, data, 2*time.Second)
		if err != nil {
			if c != nil {
				t.Fatalf("Parse returned both a config and %v", err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid (main would not exit with status 2)", err)
			}
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if len(c.Populations) == 0 {
			t.Fatal("accepted a configuration without populations")
		}
		if strings.TrimSpace(c.School.Name) == "" {
			t.Fatal("accepted a configuration without the school's name")
		}
		seen := map[string]bool{}
		for i, p := range c.Populations {
			if !keyRE.MatchString(p.Key) || seen[p.Key] {
				t.Fatalf("population %d: key %q invalid or repeated", i, p.Key)
			}
			seen[p.Key] = true
			if p.Policy == nil || p.Help == nil {
				t.Fatalf("population %q: Policy %v, Help %v after fill", p.Key, p.Policy, p.Help)
			}
			if len(p.Policy.Validate()) != 0 || len(p.Help.Validate()) != 0 {
				t.Fatalf("population %q: accepted an invalid policy or help desk", p.Key)
			}
			if Text(p.Label, "fr") == "" || Text(p.Label, "en") == "" {
				t.Fatalf("population %q: no label", p.Key)
			}
			if got, ok := c.Population(p.Key); !ok || got.Key != p.Key {
				t.Fatalf("Population(%q) = %v, %v", p.Key, got, ok)
			}
			_ = c.PolicyOf(p.Key)
			if !c.Known(p.Key) {
				t.Fatalf("Known(%q) = false", p.Key)
			}
		}
		_ = c.PolicyOf("no-such-population")
		_ = c.WeakPolicies()
		r := c.Recovery
		if r.CodeMinutes < 1 || r.CodeMinutes > 1440 || r.CodesPerHour < 1 || r.CodesPerHour > 100 || r.RequestsPerIPHour < 1 || r.RequestsPerIPHour > 100000 {
			t.Fatalf("recovery settings out of range after fill: %+v", r)
		}
		if c.School.PrimaryColor != "" && !colourRE.MatchString(c.School.PrimaryColor) {
			t.Fatalf("accepted colour %q (it is written into a style sheet)", c.School.PrimaryColor)
		}
	})
}
