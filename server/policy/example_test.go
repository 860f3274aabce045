package policy_test

import (
	"fmt"

	"github.com/sesame-edu/sesame/server/policy"
)

func printResult(res policy.Result) {
	for _, r := range res.Rules {
		mark := "✗"
		if r.Met {
			mark = "✓"
		}
		if r.N != 0 {
			fmt.Printf("%s %s (%d)\n", mark, r.Key, r.N)
		} else {
			fmt.Printf("%s %s\n", mark, r.Key)
		}
	}
	fmt.Println("OK:", res.OK)
}

// The recommended policy: long passphrases, no composition rules, but no
// common password and no personal information.
func ExamplePolicy_Evaluate() {
	p := policy.Default()
	c := policy.Context{Identifier: "hmartin", FirstName: "Hélène", LastName: "Martin"}
	printResult(p.Evaluate("Helene2024!!", c))
	// Output:
	// ✓ policy.min_length (12)
	// ✓ policy.max_length (128)
	// ✗ policy.not_personal
	// ✗ policy.not_common
	// OK: false
}

// A school policy: « entre 8 et 32 caractères, au moins un chiffre, au moins
// une lettre, différent du nom et de l'identifiant ».
func ExamplePolicy_Evaluate_schoolA() {
	p := policy.Policy{MinLength: 8, MaxLength: 32, RequireDigit: true, RequireLetter: true, ForbidPersonal: true}
	c := policy.Context{Identifier: "jdupont", FirstName: "Jean", LastName: "Dupont"}
	printResult(p.Evaluate("vacances2024", c))
	bits, weak := p.Weakness()
	fmt.Printf("%.1f bits, weak: %v\n", bits, weak)
	// Output:
	// ✓ policy.min_length (8)
	// ✓ policy.max_length (32)
	// ✓ policy.digit
	// ✓ policy.letter
	// ✓ policy.not_personal
	// OK: true
	// 41.4 bits, weak: true
}

// A school policy for a legacy directory: « entre 6 et 15 caractères, sans
// accents et sans caractères spéciaux ».
func ExamplePolicy_Evaluate_schoolB() {
	p := policy.Policy{MinLength: 6, MaxLength: 15, ForbidAccents: true, ForbidSpecial: true}
	printResult(p.Evaluate("élève 2024", policy.Context{}))
	bits, weak := p.Weakness()
	fmt.Printf("%.1f bits, weak: %v\n", bits, weak)
	// Output:
	// ✓ policy.min_length (6)
	// ✓ policy.max_length (15)
	// ✗ policy.no_accents
	// ✗ policy.no_special
	// OK: false
	// 28.2 bits, weak: true
}

// The checklist shown before the user types anything.
func ExamplePolicy_Rules() {
	for _, r := range policy.Default().Rules() {
		fmt.Println(r.Key, r.N, r.Met)
	}
	// Output:
	// policy.min_length 12 false
	// policy.max_length 128 false
	// policy.not_personal 0 false
	// policy.not_common 0 false
}

func ExamplePolicy_Validate() {
	p := policy.Policy{MinLength: 12, MaxLength: 8, RequireSpecial: true, ForbidSpecial: true}
	for _, pr := range p.Validate() {
		fmt.Printf("%s: %s\n", pr.Field, pr.Message)
	}
	// Output:
	// max_length: max_length (8) must be greater than or equal to min_length (12)
	// require_special: require_special contradicts forbid_special
}
