package policy

import (
	"bufio"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// Two policies really used by French schools; the product must be able to
// express them even though both are weak.
var (
	// « entre 8 et 32 caractères, au moins un chiffre, au moins une lettre,
	// différent du nom et de l'identifiant »
	schoolA = Policy{MinLength: 8, MaxLength: 32, RequireDigit: true, RequireLetter: true, ForbidPersonal: true}
	// « entre 6 et 15 caractères, sans accents et sans caractères spéciaux »
	schoolB = Policy{MinLength: 6, MaxLength: 15, ForbidAccents: true, ForbidSpecial: true}
)

// everything enables every rule that can be satisfied at the same time.
var everything = Policy{
	MinLength: 8, MaxLength: 64,
	RequireDigit: true, RequireLetter: true, RequireLower: true, RequireUpper: true, RequireSpecial: true,
	ForbidAccents: true, ForbidPersonal: true, Blocklist: true,
	ContextWords: []string{"Jules Ferry", "Montreuil"},
}

var dupont = Context{Identifier: "jdupont12", FirstName: "Marie-Claire", LastName: "Dupont"}

// ruleMet returns whether the rule with the given key is met, and fails the
// test if the rule is absent, so that a misspelt key cannot pass silently.
func ruleMet(t *testing.T, res Result, key string) bool {
	t.Helper()
	for _, r := range res.Rules {
		if r.Key == key {
			return r.Met
		}
	}
	t.Fatalf("rule %q missing from result %+v", key, res.Rules)
	return false
}

func unmetKeys(res Result) []string {
	var keys []string
	for _, r := range res.Rules {
		if !r.Met {
			keys = append(keys, r.Key)
		}
	}
	return keys
}

func TestDefault(t *testing.T) {
	p := Default()
	want := Policy{MinLength: 12, MaxLength: 128, Blocklist: true, ForbidPersonal: true}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("Default() = %+v, want %+v", p, want)
	}
	if p.MaxLength < 64 {
		t.Errorf("MaxLength %d is below the 64 required by NIST and OWASP", p.MaxLength)
	}
	if probs := p.Validate(); len(probs) != 0 {
		t.Errorf("Default().Validate() = %v, want none", probs)
	}
	gotKeys := keysOf(p.Rules())
	wantKeys := []string{KeyMinLength, KeyMaxLength, KeyNotPersonal, KeyNotCommon}
	if !slices.Equal(gotKeys, wantKeys) {
		t.Errorf("Default().Rules() keys = %v, want %v", gotKeys, wantKeys)
	}
}

func keysOf(rules []Rule) []string {
	keys := make([]string, len(rules))
	for i, r := range rules {
		keys[i] = r.Key
	}
	return keys
}

func TestRules(t *testing.T) {
	all := everything
	all.ForbidSpecial = true // contradictory, but Rules must still list it
	rules := all.Rules()
	want := []Rule{
		{Key: KeyMinLength, N: 8}, {Key: KeyMaxLength, N: 64},
		{Key: KeyDigit}, {Key: KeyLetter}, {Key: KeyLower}, {Key: KeyUpper}, {Key: KeySpecial},
		{Key: KeyNoAccents}, {Key: KeyNoSpecial}, {Key: KeyNotPersonal}, {Key: KeyNotCommon},
	}
	if !reflect.DeepEqual(rules, want) {
		t.Fatalf("Rules() =\n%+v\nwant\n%+v", rules, want)
	}

	tests := []struct {
		name string
		p    Policy
		want []Rule
	}{
		{"school A", schoolA, []Rule{{Key: KeyMinLength, N: 8}, {Key: KeyMaxLength, N: 32}, {Key: KeyDigit}, {Key: KeyLetter}, {Key: KeyNotPersonal}}},
		{"school B", schoolB, []Rule{{Key: KeyMinLength, N: 6}, {Key: KeyMaxLength, N: 15}, {Key: KeyNoAccents}, {Key: KeyNoSpecial}}},
		// A misconfigured policy still has sane bounds: never an empty
		// password, never more than HardMaxLength characters.
		{"zero value", Policy{}, []Rule{{Key: KeyMinLength, N: 1}, {Key: KeyMaxLength, N: HardMaxLength}}},
		{"too large max", Policy{MinLength: 4, MaxLength: 5000}, []Rule{{Key: KeyMinLength, N: 4}, {Key: KeyMaxLength, N: HardMaxLength}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Rules(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Rules() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestEvaluateRule checks every rule, met and not met, in isolation.
func TestEvaluateRule(t *testing.T) {
	short := Policy{MinLength: 1, MaxLength: 64}
	with := func(f func(*Policy)) Policy {
		p := short
		f(&p)
		return p
	}
	tests := []struct {
		name     string
		p        Policy
		password string
		c        Context
		key      string
		want     bool
	}{
		{"min length met", Policy{MinLength: 8, MaxLength: 64}, "abcdefgh", Context{}, KeyMinLength, true},
		{"min length not met", Policy{MinLength: 8, MaxLength: 64}, "abcdefg", Context{}, KeyMinLength, false},
		{"empty password with zero min", Policy{MaxLength: 64}, "", Context{}, KeyMinLength, false},
		{"max length met", Policy{MinLength: 1, MaxLength: 8}, "abcdefgh", Context{}, KeyMaxLength, true},
		{"max length not met", Policy{MinLength: 1, MaxLength: 8}, "abcdefghi", Context{}, KeyMaxLength, false},
		{"max length counts runes not bytes", Policy{MinLength: 1, MaxLength: 4}, "éééé", Context{}, KeyMaxLength, true},
		{"hard max applies when unset", Policy{MinLength: 1}, strings.Repeat("a", HardMaxLength+1), Context{}, KeyMaxLength, false},
		{"hard max reachable when unset", Policy{MinLength: 1}, strings.Repeat("é", HardMaxLength), Context{}, KeyMaxLength, true},

		{"digit met", with(func(p *Policy) { p.RequireDigit = true }), "abc1", Context{}, KeyDigit, true},
		{"digit met by arabic-indic digit", with(func(p *Policy) { p.RequireDigit = true }), "abc٣", Context{}, KeyDigit, true},
		{"digit not met", with(func(p *Policy) { p.RequireDigit = true }), "abc!", Context{}, KeyDigit, false},
		{"letter met", with(func(p *Policy) { p.RequireLetter = true }), "1234a", Context{}, KeyLetter, true},
		{"letter met by accented letter", with(func(p *Policy) { p.RequireLetter = true }), "1234é", Context{}, KeyLetter, true},
		{"letter not met", with(func(p *Policy) { p.RequireLetter = true }), "1234!", Context{}, KeyLetter, false},
		{"lower met", with(func(p *Policy) { p.RequireLower = true }), "ABCé", Context{}, KeyLower, true},
		{"lower not met", with(func(p *Policy) { p.RequireLower = true }), "ABC1É", Context{}, KeyLower, false},
		{"upper met", with(func(p *Policy) { p.RequireUpper = true }), "abcÉ", Context{}, KeyUpper, true},
		{"upper not met", with(func(p *Policy) { p.RequireUpper = true }), "abc1é", Context{}, KeyUpper, false},
		{"upper met by title-case letter", with(func(p *Policy) { p.RequireUpper = true }), "abc\u01c5", Context{}, KeyUpper, true},
		{"special met", with(func(p *Policy) { p.RequireSpecial = true }), "abc!", Context{}, KeySpecial, true},
		{"special met by space", with(func(p *Policy) { p.RequireSpecial = true }), "ab c", Context{}, KeySpecial, true},
		{"special not met by accent", with(func(p *Policy) { p.RequireSpecial = true }), "abcé1", Context{}, KeySpecial, false},
		{"no accents met", with(func(p *Policy) { p.ForbidAccents = true }), "abc1 !", Context{}, KeyNoAccents, true},
		{"no accents not met", with(func(p *Policy) { p.ForbidAccents = true }), "abcé", Context{}, KeyNoAccents, false},
		{"no accents not met by cyrillic", with(func(p *Policy) { p.ForbidAccents = true }), "abcд", Context{}, KeyNoAccents, false},
		{"no special met", with(func(p *Policy) { p.ForbidSpecial = true }), "abcXYZ09", Context{}, KeyNoSpecial, true},
		{"no special not met by symbol", with(func(p *Policy) { p.ForbidSpecial = true }), "abc!", Context{}, KeyNoSpecial, false},
		{"no special not met by space", with(func(p *Policy) { p.ForbidSpecial = true }), "abc def", Context{}, KeyNoSpecial, false},
		{"no special not met by accent", with(func(p *Policy) { p.ForbidSpecial = true }), "abcé", Context{}, KeyNoSpecial, false},

		{"personal met", with(func(p *Policy) { p.ForbidPersonal = true }), "tournesol-rouge", dupont, KeyNotPersonal, true},
		{"personal equals identifier", with(func(p *Policy) { p.ForbidPersonal = true }), "JDupont12", dupont, KeyNotPersonal, false},
		{"personal contains identifier stem", with(func(p *Policy) { p.ForbidPersonal = true }), "xjdupontx", dupont, KeyNotPersonal, false},
		{"personal contains last name", with(func(p *Policy) { p.ForbidPersonal = true }), "DUPONT!2024", dupont, KeyNotPersonal, false},
		{"personal contains hyphenated part", with(func(p *Policy) { p.ForbidPersonal = true }), "claire1234", dupont, KeyNotPersonal, false},
		{"personal contains whole compact name", with(func(p *Policy) { p.ForbidPersonal = true }), "marie claire", dupont, KeyNotPersonal, false},
		// Both parts are too short to be searched, but together they are not.
		{"personal contains compact short parts", with(func(p *Policy) { p.ForbidPersonal = true }), "joli2024", Context{LastName: "Jo Li"}, KeyNotPersonal, false},
		{"personal short parts alone", with(func(p *Policy) { p.ForbidPersonal = true }), "jolt-li", Context{LastName: "Jo Li"}, KeyNotPersonal, true},
		{"personal ignores empty fields", with(func(p *Policy) { p.ForbidPersonal = true }), "anything", Context{FirstName: " "}, KeyNotPersonal, true},
		{"personal short name equality", with(func(p *Policy) { p.ForbidPersonal = true }), "Li", Context{FirstName: "Li"}, KeyNotPersonal, false},
		{"personal short name not containment", with(func(p *Policy) { p.ForbidPersonal = true }), "lilas-bleus", Context{FirstName: "Li"}, KeyNotPersonal, true},
		{"personal three-letter name containment", with(func(p *Policy) { p.ForbidPersonal = true }), "belea2024", Context{FirstName: "Léa"}, KeyNotPersonal, false},
		{"personal ligature", with(func(p *Policy) { p.ForbidPersonal = true }), "soeurs", Context{LastName: "Sœurs"}, KeyNotPersonal, false},

		{"common met", with(func(p *Policy) { p.Blocklist = true }), "tournesol-rouge", Context{}, KeyNotCommon, true},
		{"common not met", with(func(p *Policy) { p.Blocklist = true }), "azerty", Context{}, KeyNotCommon, false},
		{"context word equal", with(func(p *Policy) { p.Blocklist = true; p.ContextWords = []string{"Pau"} }), "PAU", Context{}, KeyNotCommon, false},
		{"short context word not containment", with(func(p *Policy) { p.Blocklist = true; p.ContextWords = []string{"Pau"} }), "pauvre-poete", Context{}, KeyNotCommon, true},
		{"context word contained", with(func(p *Policy) { p.Blocklist = true; p.ContextWords = []string{"Montreuil"} }), "j'aime-montreuil", Context{}, KeyNotCommon, false},
		{"context word contained without spaces", with(func(p *Policy) { p.Blocklist = true; p.ContextWords = []string{"Lycée Jules Ferry"} }), "LyceeJulesFerry93", Context{}, KeyNotCommon, false},
		{"extra word contained", with(func(p *Policy) { p.Blocklist = true }), "ivry2024!", Context{ExtraWords: []string{"Ivry"}}, KeyNotCommon, false},
		{"extra word not contained", with(func(p *Policy) { p.Blocklist = true }), "ivry2024!", Context{ExtraWords: []string{"Paris"}}, KeyNotCommon, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.p.Evaluate(tt.password, tt.c)
			if got := ruleMet(t, res, tt.key); got != tt.want {
				t.Errorf("Evaluate(%q) rule %s met = %v, want %v (rules %+v)", tt.password, tt.key, got, tt.want, res.Rules)
			}
			if tt.want == false && res.OK {
				t.Errorf("Evaluate(%q).OK = true with rule %s not met", tt.password, tt.key)
			}
		})
	}
}

// TestEvaluatePolicies checks whole policies: which rules fail for a given
// password (nil means the password is accepted).
func TestEvaluatePolicies(t *testing.T) {
	passphrase := "le chat de la voisine mange des croquettes au saumon tous les jours"[:64]
	if n := utf8.RuneCountInString(passphrase); n != 64 {
		t.Fatalf("test passphrase has %d characters, want 64", n)
	}
	tests := []struct {
		name     string
		p        Policy
		password string
		c        Context
		unmet    []string
	}{
		{"default accepts long passphrase", Default(), "tournesol rouge au jardin", dupont, nil},
		{"default accepts 64-char passphrase with spaces", Default(), passphrase, dupont, nil},
		{"default rejects 129 characters", Default(), strings.Repeat("x", 129), Context{}, []string{KeyMaxLength}},
		{"default accepts 128 characters", Default(), strings.Repeat("xy", 64), Context{}, nil},
		{"default rejects short", Default(), "tournesol", Context{}, []string{KeyMinLength}},
		{"default rejects decorated common", Default(), "Azerty2024!!", Context{}, []string{KeyNotCommon}},
		{"default rejects common prefixed with digits", Default(), "20242024azerty", Context{}, []string{KeyNotCommon}},
		{"default rejects name", Default(), "Dupont-Dupont!", dupont, []string{KeyNotPersonal}},
		{"default has no composition rules", Default(), "aaaaaaaaaaaz", Context{}, nil},
		{"default rejects empty", Default(), "", dupont, []string{KeyMinLength}},

		{"A accepts", schoolA, "vacances2024", dupont, nil},
		{"A rejects no digit", schoolA, "vacancesdete", dupont, []string{KeyDigit}},
		{"A rejects no letter", schoolA, "12345678", dupont, []string{KeyLetter}},
		{"A rejects short", schoolA, "vac2024", dupont, []string{KeyMinLength}},
		{"A rejects long", schoolA, strings.Repeat("a1", 17), dupont, []string{KeyMaxLength}},
		{"A rejects identifier", schoolA, "jdupont12", dupont, []string{KeyNotPersonal}},
		{"A rejects last name", schoolA, "dupont2024", dupont, []string{KeyNotPersonal}},
		{"A accepts accents and symbols", schoolA, "élève-2024!", dupont, nil},
		{"A has no blocklist", schoolA, "azerty123", dupont, nil},

		{"B accepts", schoolB, "Soleil2024", dupont, nil},
		{"B accepts six letters", schoolB, "abcdef", Context{}, nil},
		{"B rejects accent", schoolB, "élève2024", Context{}, []string{KeyNoAccents, KeyNoSpecial}},
		{"B rejects special", schoolB, "soleil-2024", Context{}, []string{KeyNoSpecial}},
		{"B rejects space", schoolB, "soleil 2024", Context{}, []string{KeyNoSpecial}},
		{"B rejects short", schoolB, "abcde", Context{}, []string{KeyMinLength}},
		{"B rejects long", schoolB, "abcdefghijklmnop", Context{}, []string{KeyMaxLength}},
		{"B has no personal rule", schoolB, "jdupont12", dupont, nil},

		{"everything accepts", everything, "Tournesol#42", dupont, nil},
		{"everything rejects all classes", everything, "        ", dupont,
			[]string{KeyDigit, KeyLetter, KeyLower, KeyUpper}},
		{"everything rejects several", everything, "Montreuil-ÉTÉ", dupont,
			[]string{KeyDigit, KeyNoAccents, KeyNotCommon}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.p.Evaluate(tt.password, tt.c)
			if got := unmetKeys(res); !slices.Equal(got, tt.unmet) {
				t.Errorf("Evaluate(%q) unmet rules = %v, want %v", tt.password, got, tt.unmet)
			}
			if res.OK != (len(tt.unmet) == 0) {
				t.Errorf("Evaluate(%q).OK = %v, want %v", tt.password, res.OK, len(tt.unmet) == 0)
			}
			if got, want := keysOf(res.Rules), keysOf(tt.p.Rules()); !slices.Equal(got, want) {
				t.Errorf("Evaluate rules %v differ from Rules() %v", got, want)
			}
		})
	}
}

func TestUnicode(t *testing.T) {
	const (
		nfc = "\u00e9"  // é precomposed
		nfd = "e\u0301" // e + combining acute accent
	)
	lengthOnly := func(min, max int) Policy { return Policy{MinLength: min, MaxLength: max} }
	personalOnly := Policy{MinLength: 1, MaxLength: 64, ForbidPersonal: true}
	tests := []struct {
		name     string
		p        Policy
		password string
		c        Context
		unmet    []string
	}{
		// "é" typed on a Mac may arrive decomposed; it is still one character.
		{"NFD é is one character (max)", lengthOnly(1, 4), "abc" + nfd, Context{}, nil},
		{"NFD é is one character (min)", lengthOnly(5, 10), "abc" + nfd, Context{}, []string{KeyMinLength}},
		{"NFC é is one character", lengthOnly(4, 4), "abc" + nfc, Context{}, nil},
		{"NFD é is an accent", Policy{MinLength: 1, MaxLength: 10, ForbidAccents: true}, nfd, Context{}, []string{KeyNoAccents}},
		{"NFD é is a letter not a special", Policy{MinLength: 1, MaxLength: 10, RequireLetter: true, RequireSpecial: true}, "a" + nfd, Context{}, []string{KeySpecial}},
		// No precomposed form exists for q + tilde: two runes, and the mark
		// belongs to the letter.
		{"uncomposable mark counts as a rune", lengthOnly(3, 3), "aq\u0303", Context{}, nil},
		{"uncomposable mark is an accent", Policy{MinLength: 1, MaxLength: 10, ForbidAccents: true}, "q\u0303", Context{}, []string{KeyNoAccents}},
		{"uncomposable mark is not special", Policy{MinLength: 1, MaxLength: 10, RequireSpecial: true}, "q\u0303", Context{}, []string{KeySpecial}},
		{"leading mark is special", Policy{MinLength: 1, MaxLength: 10, RequireSpecial: true}, "\u0303q", Context{}, nil},
		{"emoji is one character", lengthOnly(3, 3), "ab🔑", Context{}, nil},
		{"emoji is special", Policy{MinLength: 1, MaxLength: 10, RequireSpecial: true, ForbidSpecial: false}, "ab🔑", Context{}, nil},
		{"emoji is forbidden by forbid_special", schoolB, "abcdef🔑", Context{}, []string{KeyNoSpecial}},
		{"emoji passphrase accepted by default", Default(), "🔑 ma clé secrète 🔑", Context{}, nil},
		{"accented name vs unaccented password", personalOnly, "helene2024", Context{FirstName: "Hélène"}, []string{KeyNotPersonal}},
		{"unaccented name vs accented password", personalOnly, "HÉLÈNE-2024!", Context{FirstName: "Helene"}, []string{KeyNotPersonal}},
		{"NFD name vs NFC password", Default(), "bonjour hélène", Context{FirstName: "He\u0301le\u0300ne"}, []string{KeyNotPersonal}},
		{"fullwidth common password", Default(), "ａｚｅｒｔｙ１２３４５６", Context{}, []string{KeyNotCommon}},
		{"accented common password", Default(), "Motdepassé2024", Context{}, []string{KeyNotCommon}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.p.Evaluate(tt.password, tt.c)
			if got := unmetKeys(res); !slices.Equal(got, tt.unmet) {
				t.Errorf("Evaluate(%q) unmet rules = %v, want %v (rules %+v)", tt.password, got, tt.unmet, res.Rules)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	if got := Normalize("He\u0301le\u0300ne"); got != "Hélène" {
		t.Errorf("Normalize(NFD Hélène) = %q, want %q", got, "Hélène")
	}
	if got := Normalize("Hélène"); got != "Hélène" {
		t.Errorf("Normalize(NFC Hélène) = %q, want it unchanged", got)
	}
}

func TestBlocklist(t *testing.T) {
	set := commonPasswords()
	if len(set) < 10000 {
		t.Fatalf("blocklist has %d entries, want at least 10000", len(set))
	}

	// The embedded file must stay lower-case, unique and sorted, as the
	// SOURCE file promises, so that diffs on regeneration stay readable.
	sc := bufio.NewScanner(strings.NewReader(commonPasswordsText))
	prev, n := "", 0
	for sc.Scan() {
		w := sc.Text()
		n++
		if w == "" || w != strings.ToLower(w) || w != strings.TrimSpace(w) {
			t.Fatalf("line %d: %q is not a trimmed lower-case entry", n, w)
		}
		if n > 1 && w <= prev {
			t.Fatalf("line %d: %q is not strictly after %q", n, w, prev)
		}
		prev = w
	}
	if n != len(set) {
		t.Errorf("file has %d lines but the set has %d entries", n, len(set))
	}

	p := Policy{MinLength: 1, MaxLength: 64, Blocklist: true}
	tests := []struct {
		password string
		common   bool
	}{
		{"azerty", true}, {"AZERTY", true}, {"motdepasse", true}, {"soleil", true}, {"doudou", true},
		{"marseille", true}, {"chouchou", true}, {"loulou", true}, {"password", true}, {"123456", true},
		{"Azerty2024!", true}, {"soleil123", true}, {"123soleil", true}, {"!!Doudou!!", true},
		{"Chouchou 2024", true}, {"Marseille13", true},
		// Only the stem is stripped; a longer phrase is not common.
		{"soleil levant sur la mer", false},
		{"azerty-mon-ami", false},
		// A stem shorter than four characters is not looked up: "psg" is
		// in the list, but "psg!!!!!" only matches on equality.
		{"psg", true}, {"psg!!!!!", false},
		{"tournesol-rouge", false},
	}
	for _, tt := range tests {
		t.Run(tt.password, func(t *testing.T) {
			res := p.Evaluate(tt.password, Context{})
			if got := !ruleMet(t, res, KeyNotCommon); got != tt.common {
				t.Errorf("%q common = %v, want %v", tt.password, got, tt.common)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		p      Policy
		fields []string
	}{
		{"default", Default(), nil},
		{"school A", schoolA, nil},
		{"school B", schoolB, nil},
		{"everything", everything, nil},
		{"zero value", Policy{}, []string{"min_length"}},
		{"negative min", Policy{MinLength: -1, MaxLength: 10}, []string{"min_length"}},
		{"max below min", Policy{MinLength: 12, MaxLength: 8}, []string{"max_length"}},
		{"max too large", Policy{MinLength: 12, MaxLength: 2048}, []string{"max_length"}},
		{"max at hard limit", Policy{MinLength: 12, MaxLength: HardMaxLength}, nil},
		{"max too short for classes", Policy{MinLength: 1, MaxLength: 3, RequireDigit: true, RequireLower: true, RequireUpper: true, RequireSpecial: true}, []string{"max_length"}},
		{"special contradiction", Policy{MinLength: 8, MaxLength: 64, RequireSpecial: true, ForbidSpecial: true}, []string{"require_special"}},
		{"empty context word", Policy{MinLength: 8, MaxLength: 64, Blocklist: true, ContextWords: []string{"Ivry", " - "}}, []string{"context_words"}},
		{"context words without blocklist", Policy{MinLength: 8, MaxLength: 64, ContextWords: []string{"Ivry"}}, []string{"context_words"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probs := tt.p.Validate()
			var fields []string
			for _, pr := range probs {
				fields = append(fields, pr.Field)
				if pr.Message == "" {
					t.Errorf("problem on %s has no message", pr.Field)
				}
			}
			if !slices.Equal(fields, tt.fields) {
				t.Errorf("Validate() = %+v, want problems on %v", probs, tt.fields)
			}
		})
	}
}

// TestProblemFieldsAreYAMLKeys guards against a renamed yaml tag leaving
// Validate pointing administrators at a key that does not exist.
func TestProblemFieldsAreYAMLKeys(t *testing.T) {
	keys := map[string]bool{}
	typ := reflect.TypeFor[Policy]()
	for i := range typ.NumField() {
		tag := typ.Field(i).Tag.Get("yaml")
		if tag == "" {
			t.Errorf("field %s has no yaml tag", typ.Field(i).Name)
		}
		keys[tag] = true
	}
	bad := []Policy{
		{}, {MinLength: 5, MaxLength: 2000}, {MinLength: 1, MaxLength: 1, RequireDigit: true, RequireSpecial: true},
		{MinLength: 1, MaxLength: 9, RequireSpecial: true, ForbidSpecial: true, ContextWords: []string{""}},
	}
	seen := 0
	for _, p := range bad {
		for _, pr := range p.Validate() {
			seen++
			if !keys[pr.Field] {
				t.Errorf("problem field %q is not a yaml key of Policy", pr.Field)
			}
		}
	}
	if seen == 0 {
		t.Fatal("no problem was produced; the test checks nothing")
	}
}

func TestWeakness(t *testing.T) {
	tests := []struct {
		name string
		p    Policy
		bits float64
		weak bool
	}{
		{"default", Default(), 12 * math.Log2(26), false},
		{"school A", schoolA, 8 * math.Log2(36), true},
		{"school B", schoolB, 6 * math.Log2(26), true},
		{"letter alone adds nothing", Policy{MinLength: 10, RequireLetter: true}, 10 * math.Log2(26), true},
		{"lower alone adds nothing", Policy{MinLength: 10, RequireLower: true}, 10 * math.Log2(26), true},
		{"lower and upper", Policy{MinLength: 10, RequireLower: true, RequireUpper: true}, 10 * math.Log2(52), false},
		{"all classes", Policy{MinLength: 8, RequireLower: true, RequireUpper: true, RequireDigit: true, RequireSpecial: true}, 8 * math.Log2(94), false},
		{"special without case", Policy{MinLength: 9, RequireSpecial: true}, 9 * math.Log2(58), false},
		{"zero min counts as one", Policy{}, math.Log2(26), true},
		{"17 letters", Policy{MinLength: 17}, 17 * math.Log2(26), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bits, weak := tt.p.Weakness()
			if math.Abs(bits-tt.bits) > 1e-9 || weak != tt.weak {
				t.Errorf("Weakness() = %.3f, %v; want %.3f, %v", bits, weak, tt.bits, tt.weak)
			}
		})
	}
	// The documented figure for the default policy.
	if bits, _ := Default().Weakness(); math.Round(bits*10)/10 != 56.4 {
		t.Errorf("Default().Weakness() = %.2f bits, documented as 56.4", bits)
	}
}

func FuzzEvaluate(f *testing.F) {
	f.Add("azerty", "jdupont12", "Marie-Claire", "Dupont")
	f.Add("Azerty2024!", "", "", "")
	f.Add("he\u0301le\u0300ne2024", "hlene", "Hélène", "Œuvre")
	f.Add("🔑 ma clé secrète 🔑", "x", "Li", "Ng")
	f.Add("\xff\xfe\u0303q", "\xff", "\u0301", "-")
	f.Add(strings.Repeat("ab ", 50), "ab", "ab", "ab")
	policies := []Policy{Default(), schoolA, schoolB, everything, {}, {MinLength: 1, MaxLength: 4, RequireSpecial: true, ForbidSpecial: true}}
	f.Fuzz(func(t *testing.T, password, id, first, last string) {
		c := Context{Identifier: id, FirstName: first, LastName: last, ExtraWords: []string{first + last}}
		for _, p := range policies {
			res := p.Evaluate(password, c)
			if got, want := keysOf(res.Rules), keysOf(p.Rules()); !slices.Equal(got, want) {
				t.Fatalf("Evaluate rules %v differ from Rules() %v", got, want)
			}
			all := true
			for _, r := range res.Rules {
				all = all && r.Met
			}
			if res.OK != all {
				t.Fatalf("Evaluate(%q).OK = %v but all rules met = %v: %+v", password, res.OK, all, res.Rules)
			}
			if res.OK && password == "" {
				t.Fatalf("empty password accepted by %+v", p)
			}
		}
	})
}

func BenchmarkEvaluate(b *testing.B) {
	p := Default()
	p.ContextWords = []string{"Lycée Jules Ferry", "Montreuil"}
	c := Context{Identifier: "jdupont12", FirstName: "Marie-Claire", LastName: "Dupont", ExtraWords: []string{"Ivry"}}
	commonPasswords() // keep the one-off list loading out of the measurement
	b.ReportAllocs()
	for b.Loop() {
		p.Evaluate("le chat de la voisine mange des croquettes", c)
	}
}

func TestHugeInput(t *testing.T) {
	// The densest composition NFC knows: three Hangul jamo of three bytes
	// each become one syllable. Even then, maxInputBytes of input stays
	// above HardMaxLength characters, which is what allows Evaluate to
	// look at a prefix only.
	jamo := strings.Repeat("\u1100\u1161\u11a8", maxInputBytes/9+1)
	if n := utf8.RuneCountInString(Normalize(jamo[:maxInputBytes])); n <= HardMaxLength {
		t.Fatalf("NFC of %d bytes of jamo has %d runes, not more than %d", maxInputBytes, n, HardMaxLength)
	}

	huge := map[string]string{
		"ascii":   strings.Repeat("a", 1<<20),
		"nfd":     strings.Repeat("e\u0301", 1<<18),
		"jamo":    jamo,
		"invalid": strings.Repeat("\xff", 1<<20),
	}
	for name, pw := range huge {
		t.Run(name, func(t *testing.T) {
			for _, p := range []Policy{Default(), {MinLength: 1, MaxLength: HardMaxLength}} {
				res := p.Evaluate(pw, dupont)
				if ruleMet(t, res, KeyMaxLength) || res.OK {
					t.Errorf("%d-byte password: max_length met or OK: %+v", len(pw), res)
				}
			}
		})
	}
}
