// Command harborhook-compose-check loads a Compose file with the Compose Specification
// loader that Docker Compose itself uses (github.com/compose-spec/compose-go/v2) and prints
// the normalized model, so the compose stack is validated on machines without a Docker engine.
//
// The file goes through the same steps as `docker compose config`: the environment is the
// process environment plus the project's .env file (or the --env-file files), variables are
// interpolated, the model is checked against the Compose JSON schema, normalized, checked
// for consistency (every network, volume, secret and config a service names is declared),
// relative paths are resolved against the project directory, and each service's env_file
// is read.
//
// Usage:
//
//	harborhook-compose-check [-f FILE]... [--project-directory DIR] [--env-file FILE]...
//	    [-p NAME] [--profile NAME]... [--format json|yaml] [--strict] [-q]
//	harborhook-compose-check --version   (loader version and source digest)
//
// Output: the normalized model on stdout (JSON by default), nothing with -q.
// Warnings (e.g. an unset variable) go to stderr as "warning: ..."; --strict makes them errors.
// Exit codes: 0 valid, 1 invalid (the reason on stderr as "compose-check: ..."), 2 bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"
)

const (
	programName   = "harborhook-compose-check"
	loaderModule  = "github.com/compose-spec/compose-go/v2"
	exitInvalid   = 1
	exitBadUsage  = 2
	formatJSON    = "json"
	formatYAML    = "yaml"
	defaultFormat = formatJSON
)

// sourceDigest identifies the sources this binary was built from (set with -ldflags -X by
// scripts/bootstrap, which rebuilds when it differs from the checkout's); --version prints it.
var sourceDigest = "unknown"

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(value string) error {
	*l = append(*l, value)
	return nil
}

type options struct {
	files      stringList
	envFiles   stringList
	profiles   stringList
	projectDir string
	name       string
	format     string
	strict     bool
	quiet      bool
	version    bool
}

func parseArgs(args []string, stderr io.Writer) (*options, error) {
	opts := &options{}
	flags := flag.NewFlagSet(programName, flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Var(&opts.files, "f", "Compose file (repeatable; later files override earlier ones)")
	flags.Var(&opts.files, "file", "same as -f")
	flags.Var(&opts.envFiles, "env-file", "environment file replacing the project's .env (repeatable)")
	flags.Var(&opts.profiles, "profile", "profile to enable (repeatable; '*' enables all)")
	flags.StringVar(&opts.projectDir, "project-directory", "", "project directory (default: the first file's directory)")
	flags.StringVar(&opts.name, "p", "", "project name (default: from the file or the project directory)")
	flags.StringVar(&opts.name, "project-name", "", "same as -p")
	flags.StringVar(&opts.format, "format", defaultFormat, "output format: json or yaml")
	flags.BoolVar(&opts.strict, "strict", false, "treat warnings (e.g. an unset variable) as errors")
	flags.BoolVar(&opts.quiet, "q", false, "validate only, print nothing on success")
	flags.BoolVar(&opts.version, "version", false, "print the loader version and exit")
	if err := flags.Parse(args); err != nil {
		return nil, err
	}
	if flags.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (compose files go after -f)", flags.Arg(0))
	}
	if opts.format != formatJSON && opts.format != formatYAML {
		return nil, fmt.Errorf("--format must be json or yaml, not %q", opts.format)
	}
	return opts, nil
}

// warningCollector records the loader's logrus warnings (it logs unset variables that way).
type warningCollector struct {
	mu       sync.Mutex
	messages []string
}

func (c *warningCollector) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (c *warningCollector) Fire(entry *logrus.Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.messages = append(c.messages, entry.Message)
	return nil
}

func loaderVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, dep := range info.Deps {
		if dep.Path == loaderModule {
			if dep.Replace != nil {
				return dep.Replace.Version
			}
			return dep.Version
		}
	}
	return "unknown"
}

// load runs the loader the way `docker compose config` does, with every check switched on.
func load(ctx context.Context, opts *options) (*types.Project, error) {
	projectOptions, err := cli.NewProjectOptions(
		opts.files,
		cli.WithWorkingDirectory(opts.projectDir),
		cli.WithOsEnv,
		cli.WithEnvFiles(opts.envFiles...),
		cli.WithDotEnv,
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		// The project directory may only be known now (from the first file): read its .env.
		cli.WithEnvFiles(opts.envFiles...),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(opts.profiles...),
		cli.WithName(opts.name),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
		cli.WithDiscardEnvFile,
	)
	if err != nil {
		return nil, err
	}
	project, err := projectOptions.LoadProject(ctx)
	if err != nil {
		return nil, err
	}
	if project.Name == "" {
		return nil, errors.New("project name is empty: set name: in the file or pass -p")
	}
	return project, nil
}

// explain keeps the loader's message and spells out its terse "false schema" (a key the
// Compose schema does not allow at that place, usually a misspelt or unknown key).
func explain(err error) string {
	message := err.Error()
	if strings.HasSuffix(message, " false schema") {
		message += " (the Compose schema allows no such key here: unknown or misspelt)"
	}
	return message
}

func render(project *types.Project, format string) ([]byte, error) {
	if format == formatYAML {
		return project.MarshalYAML()
	}
	out, err := project.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", programName, err)
		return exitBadUsage
	}
	if opts.version {
		fmt.Fprintf(stdout, "%s %s %s source=%s\n", programName, loaderModule, loaderVersion(), sourceDigest)
		return 0
	}

	warnings := &warningCollector{}
	logrus.SetOutput(io.Discard)
	logrus.AddHook(warnings)

	project, err := load(context.Background(), opts)
	for _, message := range warnings.messages {
		fmt.Fprintf(stderr, "warning: %s\n", message)
	}
	if err != nil {
		fmt.Fprintf(stderr, "compose-check: %s\n", explain(err))
		return exitInvalid
	}
	if opts.strict && len(warnings.messages) > 0 {
		fmt.Fprintf(stderr, "compose-check: %d warning(s) and --strict is set\n", len(warnings.messages))
		return exitInvalid
	}
	if opts.quiet {
		return 0
	}
	out, err := render(project, opts.format)
	if err != nil {
		fmt.Fprintf(stderr, "compose-check: cannot render the model: %v\n", err)
		return exitInvalid
	}
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintf(stderr, "compose-check: cannot write the model: %v\n", err)
		return exitInvalid
	}
	return 0
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
