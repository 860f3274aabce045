// Package school reads the school's configuration file (SESAME_CONFIG): its
// name and colours, its populations (parents, students, staff…) with their
// password policies, institutional mailboxes and help desks.
//
// It imports neither the web framework nor the database driver.
package school

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/goccy/go-yaml"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/clients"
	"github.com/sesame-edu/sesame/server/helpdesk"
	"github.com/sesame-edu/sesame/server/policy"
)

// ErrInvalid is wrapped by every error about the file's content, so that
// main exits with status 2 as for a bad environment variable.
var ErrInvalid = errors.New("invalid configuration file")

// Config is the whole file.
type Config struct {
	School      Info             `yaml:"school"`
	Populations []Population     `yaml:"populations"`
	Support     helpdesk.Contact `yaml:"support"`
	Recovery    Recovery         `yaml:"recovery"`
	Charter     Charter          `yaml:"charter"`
	Desk        Desk             `yaml:"desk"`
	Letters     Letters          `yaml:"letters"`
	Mail        Mail             `yaml:"mail"`
	// Clients are the school's applications that sign in with Sésame.
	Clients     []clients.Client    `yaml:"clients"`
	ForwardAuth clients.ForwardAuth `yaml:"forward_auth"`
}

// Desk names who may use the school office's console (/desk): the
// identifiers of active accounts. Admins have the help desk's rights, plus
// imports and letters for everyone.
type Desk struct {
	Helpdesk []string `yaml:"helpdesk"`
	Admins   []string `yaml:"admins"`
}

// Mail holds what the school adds to every mail Sésame sends.
type Mail struct {
	// Legal is the legal paragraph at the foot of every mail, by language
	// (the Région's « Conformément à la loi Informatique et Libertés… »,
	// with the postal address to write to); lines are kept.
	Legal map[string]string `yaml:"legal"`
}

// Letters tunes the activation letters the console prints.
type Letters struct {
	// ValidDays is how long a printed provisional password works (default
	// 30): after it, the letter is void and the office prints a new one.
	ValidDays int `yaml:"valid_days"`
	// Name is what the school calls the letter and the account it opens
	// (default « Sésame »; « PASS'UM » at the Université de Montpellier):
	// the letter's title, the activation page and the mails say it.
	Name string `yaml:"name"`
}

// Charter is the IT charter accepted at activation. Raising Version asks
// every account to accept the new text at its next sign-in.
type Charter struct {
	Version string            `yaml:"version"`
	Title   map[string]string `yaml:"title"`
	Text    map[string]string `yaml:"text"`
	URL     map[string]string `yaml:"url"`
}

// Info brands the pages and mails.
type Info struct {
	Name         string `yaml:"name"`
	LogoURL      string `yaml:"logo_url"`
	PrimaryColor string `yaml:"primary_color"`
	Town         string `yaml:"town"`
	PrivacyURL   string `yaml:"privacy_url"`
}

// Recovery tunes the forgotten-password flow.
type Recovery struct {
	// CodeMinutes is how long a mailed code stays valid (default 15).
	CodeMinutes int `yaml:"code_minutes"`
	// CodesPerHour is how many codes one identifier may request in an hour
	// (default 5).
	CodesPerHour int `yaml:"codes_per_hour"`
	// RequestsPerIPHour is how many step-1 requests one client address may
	// make in an hour (default 30; schools behind one NAT may want more).
	RequestsPerIPHour int `yaml:"requests_per_ip_hour"`
}

// Population is one group of people with its own rules.
type Population struct {
	// Key matches the population column of the accounts import.
	Key string `yaml:"key"`
	// Label is what a person picks in the chooser (« Je suis parent
	// d'élève »).
	Label map[string]string `yaml:"label"`
	// Name is what the population is called when it is spoken of: the
	// help page's title, the console, the policy page's sections
	// (« Parents d'élèves »). Absent, the label stands in.
	Name        map[string]string `yaml:"name"`
	Description map[string]string `yaml:"description"`
	// Policy is the password policy; absent means policy.Default().
	Policy  *policy.Policy    `yaml:"password_policy"`
	Mailbox *Mailbox          `yaml:"mailbox"`
	Help    *helpdesk.Contact `yaml:"helpdesk"`
	// Guardians says that accounts of this population may have guardians
	// (a lycée's pupils): the recovery's code step then tells them that
	// without an address of their own, the code goes to their parents.
	Guardians bool `yaml:"guardians"`
}

// NameText is the population's name in lang, or its label when the
// school's file gives no name.
func (p Population) NameText(lang string) string {
	if n := Text(p.Name, lang); n != "" {
		return n
	}
	return Text(p.Label, lang)
}

// Mailbox describes a population's institutional mailbox.
type Mailbox struct {
	Domain string `yaml:"domain"`
	// Pattern builds the local part: prenom.nom, p.nom, nom.prenom or prenom-nom.
	Pattern string `yaml:"pattern"`
	// Redirect is "optional" or "mandatory" (e.g. contract staff).
	Redirect string `yaml:"redirect"`
}

// DefaultPopulation is the key of the single population of the built-in
// configuration; it accepts every account.
const DefaultPopulation = "default"

// Default is the configuration used without SESAME_CONFIG: one population
// with the default password policy, for every account.
func Default() *Config {
	c := &Config{
		School: Info{Name: "Sésame"},
		Populations: []Population{{
			Key:   DefaultPopulation,
			Label: map[string]string{"fr": "Tous les comptes", "en": "All accounts"},
		}},
	}
	c.fill()
	return c
}

// Load reads and checks the file at path. Any problem names the file, the
// line and the reason.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return Parse(path, data)
}

// Parse reads and checks a configuration; name is used in messages.
func Parse(name string, data []byte) (*Config, error) {
	var c Config
	if err := yaml.UnmarshalWithOptions(data, &c, yaml.DisallowUnknownField()); err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) && ye.GetToken() != nil {
			return nil, fmt.Errorf("%w: %s:%d: %s", ErrInvalid, name, ye.GetToken().Position.Line, ye.GetMessage())
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, name, err)
	}
	if problems := c.validate(); len(problems) > 0 {
		var b strings.Builder
		for i, p := range problems {
			if i > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "%s:%d: %s: %s", name, lineOf(data, p.path), strings.TrimPrefix(p.path, "$."), p.msg)
		}
		return nil, fmt.Errorf("%w: %s", ErrInvalid, b.String())
	}
	c.fill()
	return &c, nil
}

type problem struct{ path, msg string }

var (
	keyRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	colourRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	// identifierRE is account.validIdentifier's rule, after folding case.
	identifierRE = regexp.MustCompile(`^[a-z0-9._@-]{1,64}$`)
	domainRE     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)
)

// Patterns lists the institutional address patterns Sésame knows.
func Patterns() []string { return []string{"prenom.nom", "p.nom", "nom.prenom", "prenom-nom"} }

func (c *Config) validate() []problem {
	var ps []problem
	add := func(path, msg string) { ps = append(ps, problem{path, msg}) }
	if strings.TrimSpace(c.School.Name) == "" {
		add("$.school.name", "the school's name is required")
	}
	if c.School.PrimaryColor != "" && !colourRE.MatchString(c.School.PrimaryColor) {
		add("$.school.primary_color", "expected a colour such as #1d4ed8")
	}
	for _, u := range []struct{ path, v string }{{"$.school.logo_url", c.School.LogoURL}, {"$.school.privacy_url", c.School.PrivacyURL}} {
		if u.v != "" && !strings.HasPrefix(u.v, "https://") && !strings.HasPrefix(u.v, "/") {
			add(u.path, "expected an https:// URL or a path on this site")
		}
	}
	if len(c.Populations) == 0 {
		add("$.populations", "at least one population is required")
	}
	seen := map[string]bool{}
	for i, p := range c.Populations {
		at := fmt.Sprintf("$.populations[%d]", i)
		switch {
		case !keyRE.MatchString(p.Key):
			add(at+".key", "expected a short key of lower-case letters, digits, - and _ (e.g. parents)")
		case seen[p.Key]:
			add(at+".key", fmt.Sprintf("population %q is defined twice", p.Key))
		}
		seen[p.Key] = true
		if p.Label["fr"] == "" {
			add(at+".label", "a French label (label: {fr: …}) is required")
		}
		if len(p.Name) > 0 && p.Name["fr"] == "" {
			add(at+".name", "a French name (name: {fr: …}) is required when name is given")
		}
		if p.Policy != nil {
			for _, pr := range p.Policy.Validate() {
				add(at+".password_policy."+pr.Field, pr.Message)
			}
		}
		if m := p.Mailbox; m != nil {
			if !domainRE.MatchString(m.Domain) {
				add(at+".mailbox.domain", "expected a mail domain such as ac-region.fr")
			}
			if !slices.Contains(Patterns(), m.Pattern) {
				add(at+".mailbox.pattern", "expected one of "+strings.Join(Patterns(), ", "))
			}
			if m.Redirect != "optional" && m.Redirect != "mandatory" {
				add(at+".mailbox.redirect", "expected optional or mandatory")
			}
		}
		if p.Help != nil {
			for _, pr := range p.Help.Validate() {
				add(at+".helpdesk."+pr.Field, pr.Message)
			}
		}
	}
	for _, pr := range c.Support.Validate() {
		add("$.support."+pr.Field, pr.Message)
	}
	if c.Charter.Version != "" && c.Charter.Text["fr"] == "" && c.Charter.URL["fr"] == "" {
		add("$.charter", "a charter needs a French text (text: {fr: …}) or a link (url: {fr: …})")
	}
	for lang, u := range c.Charter.URL {
		if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "/") {
			add("$.charter.url."+lang, "expected an https:// URL or a path on this site")
		}
	}
	for _, list := range []struct {
		path string
		ids  []string
	}{{"$.desk.helpdesk", c.Desk.Helpdesk}, {"$.desk.admins", c.Desk.Admins}} {
		seenID := map[string]bool{}
		for i, id := range list.ids {
			norm := strings.ToLower(strings.TrimSpace(id))
			switch {
			case !identifierRE.MatchString(norm):
				add(fmt.Sprintf("%s[%d]", list.path, i), fmt.Sprintf("%q is not an identifier (letters, digits, . _ - @, at most 64)", id))
			case seenID[norm]:
				add(fmt.Sprintf("%s[%d]", list.path, i), fmt.Sprintf("%q is listed twice", id))
			}
			seenID[norm] = true
		}
	}
	for lang, text := range c.Mail.Legal {
		switch {
		case !slices.Contains([]string{"fr", "en"}, lang):
			add("$.mail.legal."+lang, "expected fr or en")
		case len([]rune(text)) > 2000:
			add("$.mail.legal."+lang, "longer than 2000 characters")
		case strings.IndexFunc(text, func(r rune) bool { return r != '\n' && !unicode.IsPrint(r) }) >= 0:
			add("$.mail.legal."+lang, "holds control or invisible characters (only line breaks are allowed)")
		}
	}
	if len(c.Mail.Legal) > 0 && strings.TrimSpace(c.Mail.Legal["fr"]) == "" {
		add("$.mail.legal", "a French text (legal: {fr: …}) is required")
	}
	if d := c.Letters.ValidDays; d < 0 || d > 365 {
		add("$.letters.valid_days", "expected between 1 and 365 days")
	}
	if n := c.Letters.Name; utf8.RuneCountInString(n) > 40 || strings.ContainsFunc(n, unicode.IsControl) {
		add("$.letters.name", "expected a name of at most 40 characters")
	}
	ids := map[string]bool{}
	for i, cl := range c.Clients {
		at := fmt.Sprintf("$.clients[%d]", i)
		for _, pr := range cl.Validate(account.CheckHash) {
			add(at+"."+pr.Field, pr.Message)
		}
		if ids[cl.ID] {
			add(at+".id", fmt.Sprintf("client %q is declared twice", cl.ID))
		}
		ids[cl.ID] = true
		for j, key := range cl.Populations {
			if !seen[key] {
				add(fmt.Sprintf("%s.populations[%d]", at, j), fmt.Sprintf("no population %q in this file", key))
			}
		}
		for key := range cl.Categories {
			if !seen[key] {
				add(at+".categories."+key, fmt.Sprintf("no population %q in this file", key))
			}
		}
	}
	for _, pr := range c.ForwardAuth.Validate() {
		add("$.forward_auth."+pr.Field, pr.Message)
	}
	r := c.Recovery
	if r.CodeMinutes < 0 || r.CodeMinutes > 24*60 {
		add("$.recovery.code_minutes", "expected between 1 and 1440 minutes")
	}
	if r.CodesPerHour < 0 || r.CodesPerHour > 100 {
		add("$.recovery.codes_per_hour", "expected between 1 and 100")
	}
	if r.RequestsPerIPHour < 0 || r.RequestsPerIPHour > 100000 {
		add("$.recovery.requests_per_ip_hour", "expected between 1 and 100000")
	}
	return ps
}

// fill sets defaults after validation: each population gets a policy (the
// school's name and town join its context words) and a help desk.
func (c *Config) fill() {
	if c.Charter.Version == "" {
		c.Charter = defaultCharter()
	}
	if c.Letters.Name = strings.TrimSpace(c.Letters.Name); c.Letters.Name == "" {
		c.Letters.Name = "Sésame"
	}
	if c.Letters.ValidDays == 0 {
		c.Letters.ValidDays = 30
	}
	if c.Recovery.CodeMinutes == 0 {
		c.Recovery.CodeMinutes = 15
	}
	if c.Recovery.CodesPerHour == 0 {
		c.Recovery.CodesPerHour = 5
	}
	if c.Recovery.RequestsPerIPHour == 0 {
		c.Recovery.RequestsPerIPHour = 30
	}
	for i := range c.Populations {
		p := &c.Populations[i]
		if p.Policy == nil {
			d := policy.Default()
			p.Policy = &d
		}
		if p.Policy.Blocklist {
			for _, w := range []string{c.School.Name, c.School.Town} {
				if len([]rune(strings.TrimSpace(w))) >= 4 && !slices.Contains(p.Policy.ContextWords, w) {
					p.Policy.ContextWords = append(p.Policy.ContextWords, w)
				}
			}
		}
		if p.Help == nil {
			h := c.Support
			p.Help = &h
		}
		if p.Label["en"] == "" {
			if p.Label == nil {
				p.Label = map[string]string{}
			}
			p.Label["en"] = p.Label["fr"]
		}
	}
}

// Population returns the population with key. With the built-in default
// configuration every key maps to the single default population, so a
// school can import parents, students and staff before writing a file.
func (c *Config) Population(key string) (*Population, bool) {
	for i := range c.Populations {
		if c.Populations[i].Key == key {
			return &c.Populations[i], true
		}
	}
	if len(c.Populations) == 1 && c.Populations[0].Key == DefaultPopulation && key != "" {
		return &c.Populations[0], true
	}
	return nil, false
}

// PolicyOf returns the password policy of a population (the first
// population's when the key is unknown, which the import prevents).
func (c *Config) PolicyOf(key string) policy.Policy {
	if p, ok := c.Population(key); ok {
		return *p.Policy
	}
	return *c.Populations[0].Policy
}

// Known reports whether an imported account's population is configured.
func (c *Config) Known(key string) bool {
	_, ok := c.Population(key)
	return ok
}

// DeskRole is what an account may do in the office console: "admin",
// "helpdesk", or "" (nothing: the console does not exist for it). id is a
// normalised identifier.
func (c *Config) DeskRole(id string) string {
	fold := func(ids []string) bool {
		return slices.ContainsFunc(ids, func(x string) bool { return strings.ToLower(strings.TrimSpace(x)) == id })
	}
	switch {
	case id == "":
		return ""
	case fold(c.Desk.Admins):
		return "admin"
	case fold(c.Desk.Helpdesk):
		return "helpdesk"
	}
	return ""
}

// NeedsChooser reports whether people must say who they are first.
func (c *Config) NeedsChooser() bool { return len(c.Populations) > 1 }

// WeakPolicies describes each population whose policy is weaker than the
// CNIL's recommendation; main warns about them at start.
func (c *Config) WeakPolicies() []string {
	var out []string
	for _, p := range c.Populations {
		if bits, weak := p.Policy.Weakness(); weak {
			out = append(out, fmt.Sprintf("population %q: password policy gives about %.0f bits, below the CNIL's %d (deliberation 2022-100)", p.Key, bits, policy.WeakBits))
		}
	}
	return out
}

// Text picks a translation: lang, then French, then any.
func Text(m map[string]string, lang string) string {
	if s := m[lang]; s != "" {
		return s
	}
	if s := m["fr"]; s != "" {
		return s
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		return m[k]
	}
	return ""
}

// lineOf finds the line of a YAML path such as $.populations[1].key, or of
// its closest existing parent.
func lineOf(data []byte, path string) int {
	for p := path; p != "$" && p != ""; {
		if yp, err := yaml.PathString(p); err == nil {
			if n, err := yp.ReadNode(bytes.NewReader(data)); err == nil && n != nil && n.GetToken() != nil {
				return n.GetToken().Position.Line
			}
		}
		i := strings.LastIndexAny(p, ".[")
		if i <= 0 {
			break
		}
		p = p[:i]
	}
	return 1
}

// defaultCharter is a short, generic IT charter, for schools that have not
// configured theirs yet.
func defaultCharter() Charter {
	return Charter{
		Version: "1",
		Title:   map[string]string{"fr": "Charte d'utilisation des services numériques", "en": "Digital services charter"},
		Text: map[string]string{
			"fr": "Votre compte est personnel : ne communiquez jamais votre mot de passe, pas même à l'assistance.\n" +
				"Utilisez les services numériques de l'établissement pour les besoins de votre activité, dans le respect des personnes et de la loi.\n" +
				"Signalez sans attendre à l'assistance toute utilisation suspecte de votre compte.\n" +
				"L'établissement peut suspendre un compte en cas d'usage contraire à cette charte.",
			"en": "Your account is personal: never share your password, not even with the help desk.\n" +
				"Use the school's digital services for your work or studies, respecting people and the law.\n" +
				"Report any suspicious use of your account to the help desk at once.\n" +
				"The school may suspend an account used against this charter.",
		},
	}
}
