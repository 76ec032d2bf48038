
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'meshctl' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'meshctl'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'meshctl' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('version', 'version', [CompletionResultType]::ParameterValue, 'Print the client version')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Generate shell completions or the man page')
            [CompletionResult]::new('certs', 'certs', [CompletionResultType]::ParameterValue, 'Create the mesh''s trust anchor and issuer; inspect certificates')
            [CompletionResult]::new('install', 'install', [CompletionResultType]::ParameterValue, 'Print the control plane''s manifests, or apply them to the cluster (--apply)')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Check the cluster before installing (--pre) or the health of an install')
            [CompletionResult]::new('upgrade', 'upgrade', [CompletionResultType]::ParameterValue, 'Upgrade an install: its recorded values plus new overrides, pruning what is gone')
            [CompletionResult]::new('uninstall', 'uninstall', [CompletionResultType]::ParameterValue, 'Remove the control plane from the cluster (--apply; refused while pods are meshed)')
            [CompletionResult]::new('inject', 'inject', [CompletionResultType]::ParameterValue, 'Add the meshctl proxy to the pod templates of Kubernetes manifests')
            [CompletionResult]::new('uninject', 'uninject', [CompletionResultType]::ParameterValue, 'Remove what `meshctl inject` added to manifests')
            [CompletionResult]::new('proxy-await', 'proxy-await', [CompletionResultType]::ParameterValue, 'Wait until the local proxy is ready (the classic sidecar''s postStart hook)')
            [CompletionResult]::new('proxy-init', 'proxy-init', [CompletionResultType]::ParameterValue, 'Install the pod''s iptables rules that send its TCP through the proxy (init container)')
            [CompletionResult]::new('proxy', 'proxy', [CompletionResultType]::ParameterValue, 'Run the sidecar proxy: from a static config file, or from the controller (the data plane)')
            [CompletionResult]::new('stat', 'stat', [CompletionResultType]::ParameterValue, 'Golden signals (success, RPS, latency percentiles) read from proxies'' admin ports')
            [CompletionResult]::new('edges', 'edges', [CompletionResultType]::ParameterValue, 'Who calls whom among cluster resources, with both sides'' identities and mTLS')
            [CompletionResult]::new('tap', 'tap', [CompletionResultType]::ParameterValue, 'Live requests of a resource''s pods, one line each, from their proxies')
            [CompletionResult]::new('top', 'top', [CompletionResultType]::ParameterValue, 'The busiest paths of a resource''s pods, live, from their proxies')
            [CompletionResult]::new('routes', 'routes', [CompletionResultType]::ParameterValue, 'A service''s success, RPS and latency per route of its config, from its clients'' proxies')
            [CompletionResult]::new('canary', 'canary', [CompletionResultType]::ParameterValue, 'Canary releases: set the weights of the object that routes a Service')
            [CompletionResult]::new('controller', 'controller', [CompletionResultType]::ParameterValue, 'Run the control plane: discovery and identity for the proxies (what the install runs)')
            [CompletionResult]::new('analyze', 'analyze', [CompletionResultType]::ParameterValue, 'Translate manifests (or the cluster''s objects) and report what the mesh cannot apply as written')
            [CompletionResult]::new('proxy-config', 'proxy-config', [CompletionResultType]::ParameterValue, 'The config a workload''s proxies receive, as the controller computes it (or from manifests)')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'A whole mesh on this machine (loopback, no root, no cluster) and its dashboard')
            [CompletionResult]::new('dashboard', 'dashboard', [CompletionResultType]::ParameterValue, 'A web page of proxies'' topology and golden signals, live')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'meshctl;version' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--short', '--short', [CompletionResultType]::ParameterName, 'Print only the version number')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;completions' {
            [CompletionResult]::new('--write-all', '--write-all', [CompletionResultType]::ParameterName, 'Write every completion file and the man page into DIR instead of printing one')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;certs' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a trust anchor (root) and an issuer for a trust domain (ECDSA P-256)')
            [CompletionResult]::new('inspect', 'inspect', [CompletionResultType]::ParameterValue, 'Show subject, SANs, validity, issuer and chain status of PEM certificates')
            [CompletionResult]::new('issue', 'issue', [CompletionResultType]::ParameterValue, 'Issue a workload leaf (cert.pem, key.pem, roots.pem) for a proxy''s static `identity:`')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'meshctl;certs;create' {
            [CompletionResult]::new('--trust-domain', '--trust-domain', [CompletionResultType]::ParameterName, 'Trust domain of the mesh''s SPIFFE ids (spiffe://<trust-domain>/ns/<ns>/sa/<sa>)')
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Directory to write ca.crt, ca.key, issuer.crt and issuer.key into (created if missing)')
            [CompletionResult]::new('--anchor-validity', '--anchor-validity', [CompletionResultType]::ParameterName, 'Lifetime of the trust anchor')
            [CompletionResult]::new('--issuer-validity', '--issuer-validity', [CompletionResultType]::ParameterName, 'Lifetime of the issuer (at most the anchor''s)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite files that already exist')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;certs;inspect' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;certs;issue' {
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'The SPIFFE id to certify: spiffe://<trust-domain>/ns/<ns>/sa/<sa>')
            [CompletionResult]::new('--ca-dir', '--ca-dir', [CompletionResultType]::ParameterName, 'Directory holding ca.crt, issuer.crt and issuer.key (as `certs create` wrote them)')
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Directory to write cert.pem (leaf + issuer), key.pem and roots.pem into')
            [CompletionResult]::new('--validity', '--validity', [CompletionResultType]::ParameterName, 'Lifetime of the leaf')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite files that already exist')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;certs;help' {
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a trust anchor (root) and an issuer for a trust domain (ECDSA P-256)')
            [CompletionResult]::new('inspect', 'inspect', [CompletionResultType]::ParameterValue, 'Show subject, SANs, validity, issuer and chain status of PEM certificates')
            [CompletionResult]::new('issue', 'issue', [CompletionResultType]::ParameterValue, 'Issue a workload leaf (cert.pem, key.pem, roots.pem) for a proxy''s static `identity:`')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'meshctl;certs;help;create' {
            break
        }
        'meshctl;certs;help;inspect' {
            break
        }
        'meshctl;certs;help;issue' {
            break
        }
        'meshctl;certs;help;help' {
            break
        }
        'meshctl;install' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'A YAML file of values (repeatable; later files win)')
            [CompletionResult]::new('--values', '--values', [CompletionResultType]::ParameterName, 'A YAML file of values (repeatable; later files win)')
            [CompletionResult]::new('--set-file', '--set-file', [CompletionResultType]::ParameterName, 'Set a value from a file''s contents, e.g. --set-file key=path (repeatable)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Set a value, e.g. --set controller.replicas=2 (repeatable)')
            [CompletionResult]::new('--identity-trust-anchors-file', '--identity-trust-anchors-file', [CompletionResultType]::ParameterName, 'PEM trust anchor(s) every proxy verifies peers with')
            [CompletionResult]::new('--identity-issuer-certificate-file', '--identity-issuer-certificate-file', [CompletionResultType]::ParameterName, 'PEM issuer certificate (signed by a trust anchor)')
            [CompletionResult]::new('--identity-issuer-key-file', '--identity-issuer-key-file', [CompletionResultType]::ParameterName, 'PEM private key of the issuer')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Have the API server check every object without storing anything (implies talking to the cluster)')
            [CompletionResult]::new('--crds', '--crds', [CompletionResultType]::ParameterName, 'Which CRDs to install: auto = meshctl''s own, and other products'' config-API CRDs (Gateway API, Istio, SMI) the cluster lacks (printing: meshctl''s own only: a printed copy would overwrite theirs), all = all (when applying, an error if another product owns one), none')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Wait for CRDs to be Established and the controller to be ready (--wait=false skips)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long each wait may take')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--ha', '--ha', [CompletionResultType]::ParameterName, 'High availability: 3 controller replicas, a PodDisruptionBudget, anti-affinity')
            [CompletionResult]::new('--apply', '--apply', [CompletionResultType]::ParameterName, 'Apply to the cluster with server-side apply instead of printing the manifests')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;check' {
            [CompletionResult]::new('--mesh-namespace', '--mesh-namespace', [CompletionResultType]::ParameterName, 'With --proxy: the mesh''s namespace, whose trust anchors the proxies must use')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Retry until every check passes or this much time has passed, e.g. --wait 2m')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--pre', '--pre', [CompletionResultType]::ParameterName, 'Run the pre-install checks instead of checking an install')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Check the data plane (every meshed pod''s proxy) instead of the control plane; -n limits it to one namespace (default: every namespace)')
            [CompletionResult]::new('--list', '--list', [CompletionResultType]::ParameterName, 'Print the catalogue of checks (ids, descriptions, hints) and exit')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;upgrade' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'A YAML file of values (repeatable; later files win)')
            [CompletionResult]::new('--values', '--values', [CompletionResultType]::ParameterName, 'A YAML file of values (repeatable; later files win)')
            [CompletionResult]::new('--set-file', '--set-file', [CompletionResultType]::ParameterName, 'Set a value from a file''s contents, e.g. --set-file key=path (repeatable)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Set a value, e.g. --set controller.replicas=2 (repeatable)')
            [CompletionResult]::new('--identity-trust-anchors-file', '--identity-trust-anchors-file', [CompletionResultType]::ParameterName, 'PEM trust anchor(s) every proxy verifies peers with')
            [CompletionResult]::new('--identity-issuer-certificate-file', '--identity-issuer-certificate-file', [CompletionResultType]::ParameterName, 'PEM issuer certificate (signed by a trust anchor)')
            [CompletionResult]::new('--identity-issuer-key-file', '--identity-issuer-key-file', [CompletionResultType]::ParameterName, 'PEM private key of the issuer')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Have the API server check every object without storing anything (implies talking to the cluster)')
            [CompletionResult]::new('--crds', '--crds', [CompletionResultType]::ParameterName, 'Which CRDs to install: auto = meshctl''s own, and other products'' config-API CRDs (Gateway API, Istio, SMI) the cluster lacks (printing: meshctl''s own only: a printed copy would overwrite theirs), all = all (when applying, an error if another product owns one), none')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Wait for CRDs to be Established and the controller to be ready (--wait=false skips)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long each wait may take')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--ha', '--ha', [CompletionResultType]::ParameterName, 'High availability: 3 controller replicas, a PodDisruptionBudget, anti-affinity')
            [CompletionResult]::new('--apply', '--apply', [CompletionResultType]::ParameterName, 'Apply to the cluster with server-side apply instead of printing the manifests')
            [CompletionResult]::new('--rotate-webhook-cert', '--rotate-webhook-cert', [CompletionResultType]::ParameterName, 'Replace the webhook''s CA and serving certificate (done anyway within 30 days of its end); the caBundle trusts the old CA too until the next upgrade')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;uninstall' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--apply', '--apply', [CompletionResultType]::ParameterName, 'Delete the objects instead of printing what would be deleted')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Delete even while meshed pods still run (their proxies lose the controller)')
            [CompletionResult]::new('--keep-crds', '--keep-crds', [CompletionResultType]::ParameterName, 'Keep meshctl''s CRDs (and every custom resource of them)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;inject' {
            [CompletionResult]::new('--proxy-image', '--proxy-image', [CompletionResultType]::ParameterName, 'Proxy and init image [default: ghcr.io/meshctl/meshctl:<this version>]')
            [CompletionResult]::new('--proxy-log-level', '--proxy-log-level', [CompletionResultType]::ParameterName, 'Proxy log filter, e.g. info or warn,meshctl=debug [default: info]')
            [CompletionResult]::new('--proxy-log-format', '--proxy-log-format', [CompletionResultType]::ParameterName, 'Proxy log format [default: text]')
            [CompletionResult]::new('--proxy-cpu-request', '--proxy-cpu-request', [CompletionResultType]::ParameterName, 'Proxy CPU request [default: 100m]')
            [CompletionResult]::new('--proxy-cpu-limit', '--proxy-cpu-limit', [CompletionResultType]::ParameterName, 'Proxy CPU limit [default: none]')
            [CompletionResult]::new('--proxy-memory-request', '--proxy-memory-request', [CompletionResultType]::ParameterName, 'Proxy memory request [default: 64Mi]')
            [CompletionResult]::new('--proxy-memory-limit', '--proxy-memory-limit', [CompletionResultType]::ParameterName, 'Proxy memory limit [default: 256Mi]')
            [CompletionResult]::new('--skip-inbound-ports', '--skip-inbound-ports', [CompletionResultType]::ParameterName, 'Inbound ports that bypass the proxy, e.g. 22,8000-8100')
            [CompletionResult]::new('--skip-outbound-ports', '--skip-outbound-ports', [CompletionResultType]::ParameterName, 'Outbound ports that bypass the proxy, e.g. 3306,6379,8000-8100')
            [CompletionResult]::new('--skip-outbound-cidrs', '--skip-outbound-cidrs', [CompletionResultType]::ParameterName, 'Outbound CIDRs that bypass the proxy, e.g. 10.0.0.0/8')
            [CompletionResult]::new('--opaque-ports', '--opaque-ports', [CompletionResultType]::ParameterName, 'Inbound ports proxied as opaque TCP (no protocol detection), e.g. 3306')
            [CompletionResult]::new('--localhost-ports', '--localhost-ports', [CompletionResultType]::ParameterName, 'Ports the app listens on at localhost only that peers may still reach, e.g. 9000 (other localhost-only ports stay private to the pod)')
            [CompletionResult]::new('--native-sidecar', '--native-sidecar', [CompletionResultType]::ParameterName, 'Run the proxy as a native sidecar (Kubernetes 1.29+); =false puts it first in `containers` and holds the app back until it is ready')
            [CompletionResult]::new('--iptables-mode', '--iptables-mode', [CompletionResultType]::ParameterName, 'iptables backend for the init step [default: auto]')
            [CompletionResult]::new('--admin-operator-from', '--admin-operator-from', [CompletionResultType]::ParameterName, 'Who besides loopback may read the proxies'' /config, /identity and /stats: `all`, or networks such as the nodes the API server''s pod proxy comes from (`meshctl stat`, `check --proxy`) [default: loopback only]')
            [CompletionResult]::new('--mesh-namespace', '--mesh-namespace', [CompletionResultType]::ParameterName, 'Namespace of the control plane the proxies use (`install -n`) [default: meshctl-system]')
            [CompletionResult]::new('--trust-domain', '--trust-domain', [CompletionResultType]::ParameterName, 'Trust domain of the mesh''s identities (`install --set identity.trustDomain`) [default: cluster.local]')
            [CompletionResult]::new('--tracing-endpoint', '--tracing-endpoint', [CompletionResultType]::ParameterName, 'The OTLP/gRPC collector the proxies export spans to (`install --set tracing.endpoint`) [default: none, tracing off]')
            [CompletionResult]::new('--tracing-sampling', '--tracing-sampling', [CompletionResultType]::ParameterName, 'The share of requests the proxies start a trace for, 0.0 to 1.0 (`install --set tracing.sampling`) [default: 0: only requests that come sampled]')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--annotate-only', '--annotate-only', [CompletionResultType]::ParameterName, 'Only add the annotation `meshctl.io/inject: enabled` (the admission webhook injects)')
            [CompletionResult]::new('--skip-uninjectable', '--skip-uninjectable', [CompletionResultType]::ParameterName, 'Pass objects that cannot be injected (hostNetwork, another mesh''s sidecar) through unchanged with a warning instead of failing')
            [CompletionResult]::new('--preview', '--preview', [CompletionResultType]::ParameterName, 'Print what injection would change instead of the manifests: per object, the JSON patch (RFC 6902) the admission webhook would answer, as a JSON list')
            [CompletionResult]::new('--diff', '--diff', [CompletionResultType]::ParameterName, 'Print what injection would change instead of the manifests: per object, the JSON patch (RFC 6902) the admission webhook would answer, as a JSON list')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;uninject' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;proxy-await' {
            [CompletionResult]::new('--admin-port', '--admin-port', [CompletionResultType]::ParameterName, 'The proxy''s admin port on 127.0.0.1')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up (and fail) after this long')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;proxy-init' {
            [CompletionResult]::new('--inbound-port', '--inbound-port', [CompletionResultType]::ParameterName, 'Port of the proxy''s inbound listener: inbound TCP is redirected here')
            [CompletionResult]::new('--outbound-port', '--outbound-port', [CompletionResultType]::ParameterName, 'Port of the proxy''s outbound listener: the app''s outbound TCP is redirected here')
            [CompletionResult]::new('--proxy-uid', '--proxy-uid', [CompletionResultType]::ParameterName, 'The proxy''s uid: its own connections are never redirected')
            [CompletionResult]::new('--admin-port', '--admin-port', [CompletionResultType]::ParameterName, 'The proxy''s admin port: reaches the proxy directly (probes, metrics)')
            [CompletionResult]::new('--skip-inbound-ports', '--skip-inbound-ports', [CompletionResultType]::ParameterName, 'Inbound ports that reach the app directly (comma list, ranges as 8000-8100)')
            [CompletionResult]::new('--skip-outbound-ports', '--skip-outbound-ports', [CompletionResultType]::ParameterName, 'Outbound ports the app reaches directly (comma list, ranges as 8000-8100)')
            [CompletionResult]::new('--skip-outbound-cidrs', '--skip-outbound-cidrs', [CompletionResultType]::ParameterName, 'Outbound networks the app reaches directly (comma list of IPv4/IPv6 CIDRs)')
            [CompletionResult]::new('--iptables-mode', '--iptables-mode', [CompletionResultType]::ParameterName, 'iptables backend: auto asks `iptables --version` (nf_tables or legacy)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the commands (a shell script) instead of running them')
            [CompletionResult]::new('--cleanup', '--cleanup', [CompletionResultType]::ParameterName, 'Remove meshctl''s chains and the jumps to them instead of installing')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;proxy' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The static config file (listeners, services, routes, policies); reloaded on change and SIGHUP. Without it the config is empty: inbound traffic goes to the app on loopback, intercepted outbound traffic passes through as plain TCP')
            [CompletionResult]::new('--outbound-addr', '--outbound-addr', [CompletionResultType]::ParameterName, 'Outbound listener (the app''s outgoing traffic) [default: from the file, else 127.0.0.1:4140]')
            [CompletionResult]::new('--inbound-addr', '--inbound-addr', [CompletionResultType]::ParameterName, 'Inbound listener (traffic for the app) [default: from the file, else 0.0.0.0:4143]')
            [CompletionResult]::new('--admin-addr', '--admin-addr', [CompletionResultType]::ParameterName, 'Admin listener (/metrics, /ready, /live, /stats, /config) [default: from the file, else 0.0.0.0:4191]')
            [CompletionResult]::new('--inbound-app-port', '--inbound-app-port', [CompletionResultType]::ParameterName, 'The app''s port on 127.0.0.1 for inbound connections that were not intercepted [default: from the file, else none: such connections are closed]')
            [CompletionResult]::new('--inbound-app-ip', '--inbound-app-ip', [CompletionResultType]::ParameterName, 'The address the app listens on for inbound connections (another loopback address when several apps share a host, as `meshctl demo` runs them)')
            [CompletionResult]::new('--inbound-ports-opaque', '--inbound-ports-opaque', [CompletionResultType]::ParameterName, 'Inbound ports forwarded as TCP without protocol detection (comma list)')
            [CompletionResult]::new('--inbound-ports-localhost', '--inbound-ports-localhost', [CompletionResultType]::ParameterName, 'Ports the app listens on at localhost only that peers may still reach (comma list); intercepted connections for other such ports are closed, as they would be without a proxy')
            [CompletionResult]::new('--admin-operator-from', '--admin-operator-from', [CompletionResultType]::ParameterName, 'Who besides loopback may read /config, /identity and /stats on the admin port: `all`, or networks such as 10.0.0.0/16 (the nodes the API server''s pod proxy comes from, for `meshctl stat` and `check --proxy`); /ready, /live and /metrics stay open to all')
            [CompletionResult]::new('--log-level', '--log-level', [CompletionResultType]::ParameterName, 'Log filter: error, warn, info, debug, trace, or a tracing filter like "meshctl=debug"')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format')
            [CompletionResult]::new('--workers', '--workers', [CompletionResultType]::ParameterName, 'Worker threads; 1 runs everything on one thread (smallest memory, best per-core speed)')
            [CompletionResult]::new('--tracing-endpoint', '--tracing-endpoint', [CompletionResultType]::ParameterName, 'The OTLP/gRPC collector spans are exported to (turns tracing on)')
            [CompletionResult]::new('--tracing-sampling', '--tracing-sampling', [CompletionResultType]::ParameterName, 'The share of requests without a caller''s sampling decision that start a trace (0.0 to 1.0) [default: from the file, else 0]')
            [CompletionResult]::new('--tracing-service-name', '--tracing-service-name', [CompletionResultType]::ParameterName, 'The spans'' service.name [default: from the file, else the pod''s service account in cluster mode, else meshctl-proxy]')
            [CompletionResult]::new('--controller-addr', '--controller-addr', [CompletionResultType]::ParameterName, 'The controller''s gRPC address (identity and discovery); turns on cluster mode')
            [CompletionResult]::new('--controller-namespace', '--controller-namespace', [CompletionResultType]::ParameterName, 'The mesh''s namespace: the controller''s identity is its service account there [default: the namespace in --controller-addr (meshctl-controller.<ns>.svc:8086), else meshctl-system]')
            [CompletionResult]::new('--trust-domain', '--trust-domain', [CompletionResultType]::ParameterName, 'The mesh''s trust domain')
            [CompletionResult]::new('--identity-trust-roots', '--identity-trust-roots', [CompletionResultType]::ParameterName, 'PEM trust anchors (the mesh''s trust-roots ConfigMap, mounted)')
            [CompletionResult]::new('--identity-token-file', '--identity-token-file', [CompletionResultType]::ParameterName, 'The projected service-account token sent to the CA')
            [CompletionResult]::new('--pod-name', '--pod-name', [CompletionResultType]::ParameterName, 'This pod''s name (the downward API)')
            [CompletionResult]::new('--pod-namespace', '--pod-namespace', [CompletionResultType]::ParameterName, 'This pod''s namespace')
            [CompletionResult]::new('--service-account', '--service-account', [CompletionResultType]::ParameterName, 'This pod''s service account: the proxy''s identity is spiffe://<trust-domain>/ns/<pod-namespace>/sa/<service-account>')
            [CompletionResult]::new('--drain-seconds', '--drain-seconds', [CompletionResultType]::ParameterName, 'How long in-flight requests may finish after SIGTERM, in seconds')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;stat' {
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Only traffic the resources sent to this one (KIND/NAME, e.g. deploy/web)')
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'Only traffic the resources received from this one (KIND/NAME)')
            [CompletionResult]::new('--to-namespace', '--to-namespace', [CompletionResultType]::ParameterName, 'The namespace of --to''s resource (default: the resources'' own)')
            [CompletionResult]::new('--from-namespace', '--from-namespace', [CompletionResultType]::ParameterName, 'The namespace of --from''s resource (default: the resources'' own)')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'A proxy''s admin address (HOST:PORT, e.g. 127.0.0.1:4191) to ask instead of a cluster; repeat for several proxies')
            [CompletionResult]::new('--window', '--window', [CompletionResultType]::ParameterName, 'How far back to look (10s to 10m)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on a proxy that has not answered after this long')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format (wide adds bytes/s in and out, retries, timeouts and ejected endpoints)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format (wide adds bytes/s in and out, retries, timeouts and ejected endpoints)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Every namespace instead of -n''s (or the context''s)')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Every namespace instead of -n''s (or the context''s)')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Ask again and redraw every 2 seconds until interrupted')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Ask again and redraw every 2 seconds until interrupted')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;edges' {
            [CompletionResult]::new('--window', '--window', [CompletionResultType]::ParameterName, 'How far back to look (10s to 10m)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on a proxy that has not answered after this long')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Every namespace instead of -n''s (or the context''s)')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Every namespace instead of -n''s (or the context''s)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;tap' {
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'A proxy''s admin address (HOST:PORT) to tap instead of a cluster; repeat for several')
            [CompletionResult]::new('--path', '--path', [CompletionResultType]::ParameterName, 'Only requests whose path starts with this')
            [CompletionResult]::new('--method', '--method', [CompletionResultType]::ParameterName, 'Only requests with this method')
            [CompletionResult]::new('--authority', '--authority', [CompletionResultType]::ParameterName, 'Only requests whose authority starts with this')
            [CompletionResult]::new('--direction', '--direction', [CompletionResultType]::ParameterName, 'Only inbound or outbound requests')
            [CompletionResult]::new('--max-rps', '--max-rps', [CompletionResultType]::ParameterName, 'Most events per second from each proxy (the proxy skips the rest)')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'Stop after this many events')
            [CompletionResult]::new('--headers', '--headers', [CompletionResultType]::ParameterName, 'Request headers to show (allowed: user-agent, content-type, content-length, accept, x-request-id, traceparent)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: a line of text, or a JSON object, per request')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: a line of text, or a JSON object, per request')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;top' {
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'A proxy''s admin address (HOST:PORT) to tap instead of a cluster; repeat for several')
            [CompletionResult]::new('--path', '--path', [CompletionResultType]::ParameterName, 'Only requests whose path starts with this')
            [CompletionResult]::new('--method', '--method', [CompletionResultType]::ParameterName, 'Only requests with this method')
            [CompletionResult]::new('--authority', '--authority', [CompletionResultType]::ParameterName, 'Only requests whose authority starts with this')
            [CompletionResult]::new('--direction', '--direction', [CompletionResultType]::ParameterName, 'Only inbound or outbound requests')
            [CompletionResult]::new('--max-rps', '--max-rps', [CompletionResultType]::ParameterName, 'Most events per second from each proxy (the proxy skips the rest)')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'Stop after this many events')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'How often the table is drawn')
            [CompletionResult]::new('--rows', '--rows', [CompletionResultType]::ParameterName, 'Rows shown')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;routes' {
            [CompletionResult]::new('--window', '--window', [CompletionResultType]::ParameterName, 'How far back to look (10s to 10m)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on a proxy that has not answered after this long')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--all-clients', '--all-clients', [CompletionResultType]::ParameterName, 'Count clients in every namespace, not only the target''s')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;canary' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('set-weight', 'set-weight', [CompletionResultType]::ParameterValue, 'Set the canary''s weight on the HTTPRoute, TrafficSplit or VirtualService routing a Service')
            [CompletionResult]::new('start', 'start', [CompletionResultType]::ParameterValue, 'Start a progressive rollout, driven by the controller (recorded as a Canary object)')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show a rollout''s step, weights set and acked, last analysis and events')
            [CompletionResult]::new('promote', 'promote', [CompletionResultType]::ParameterValue, 'Skip the current step''s analysis, or go to 100 % (--full)')
            [CompletionResult]::new('abort', 'abort', [CompletionResultType]::ParameterValue, 'Send all traffic back to the stable backends at once and stop the rollout')
            [CompletionResult]::new('pause', 'pause', [CompletionResultType]::ParameterValue, 'Hold the rollout at its current weight')
            [CompletionResult]::new('resume', 'resume', [CompletionResultType]::ParameterValue, 'Continue a paused rollout (its analysis window starts again)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the rollouts of the namespace (-A: of every namespace)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'meshctl;canary;set-weight' {
            [CompletionResult]::new('--create', '--create', [CompletionResultType]::ParameterName, 'When no object routes the Service, write one of this kind (to the Service and the canary)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'o')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'output')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;canary;start' {
            [CompletionResult]::new('--canary', '--canary', [CompletionResultType]::ParameterName, 'The canary: a Service (its pods are analysed), or a VirtualService subset')
            [CompletionResult]::new('--step', '--step', [CompletionResultType]::ParameterName, 'Steps of this many percent up to --max-weight')
            [CompletionResult]::new('--steps', '--steps', [CompletionResultType]::ParameterName, 'The canary weights in order, e.g. 1,5,25,50')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'How long each step is analysed (and the time between checks)')
            [CompletionResult]::new('--max-weight', '--max-weight', [CompletionResultType]::ParameterName, 'The last step''s weight with --step (default 50)')
            [CompletionResult]::new('--success-rate', '--success-rate', [CompletionResultType]::ParameterName, 'Lowest success rate that passes, in percent')
            [CompletionResult]::new('--p99', '--p99', [CompletionResultType]::ParameterName, 'Highest p99 latency that passes')
            [CompletionResult]::new('--threshold', '--threshold', [CompletionResultType]::ParameterName, 'Failed checks that roll the canary back')
            [CompletionResult]::new('--min-requests', '--min-requests', [CompletionResultType]::ParameterName, 'Fewer requests in a window is no verdict (the check waits for traffic)')
            [CompletionResult]::new('--load', '--load', [CompletionResultType]::ParameterName, 'Send synthetic GETs to this http:// URL (reaching the canary) while the rollout runs')
            [CompletionResult]::new('--load-rps', '--load-rps', [CompletionResultType]::ParameterName, 'Requests per second with --load')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'o')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'output')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;canary;status' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'o')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'output')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Follow it until it ends, printing each change')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Follow it until it ends, printing each change')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;canary;promote' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'o')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'output')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--full', '--full', [CompletionResultType]::ParameterName, 'Straight to 100 % instead of skipping the current step''s analysis')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;canary;abort' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'o')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'output')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;canary;pause' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'o')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'output')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;canary;resume' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'o')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'output')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;canary;list' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'o')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'output')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Every namespace')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;canary;help' {
            [CompletionResult]::new('set-weight', 'set-weight', [CompletionResultType]::ParameterValue, 'Set the canary''s weight on the HTTPRoute, TrafficSplit or VirtualService routing a Service')
            [CompletionResult]::new('start', 'start', [CompletionResultType]::ParameterValue, 'Start a progressive rollout, driven by the controller (recorded as a Canary object)')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show a rollout''s step, weights set and acked, last analysis and events')
            [CompletionResult]::new('promote', 'promote', [CompletionResultType]::ParameterValue, 'Skip the current step''s analysis, or go to 100 % (--full)')
            [CompletionResult]::new('abort', 'abort', [CompletionResultType]::ParameterValue, 'Send all traffic back to the stable backends at once and stop the rollout')
            [CompletionResult]::new('pause', 'pause', [CompletionResultType]::ParameterValue, 'Hold the rollout at its current weight')
            [CompletionResult]::new('resume', 'resume', [CompletionResultType]::ParameterValue, 'Continue a paused rollout (its analysis window starts again)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the rollouts of the namespace (-A: of every namespace)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'meshctl;canary;help;set-weight' {
            break
        }
        'meshctl;canary;help;start' {
            break
        }
        'meshctl;canary;help;status' {
            break
        }
        'meshctl;canary;help;promote' {
            break
        }
        'meshctl;canary;help;abort' {
            break
        }
        'meshctl;canary;help;pause' {
            break
        }
        'meshctl;canary;help;resume' {
            break
        }
        'meshctl;canary;help;list' {
            break
        }
        'meshctl;canary;help;help' {
            break
        }
        'meshctl;controller' {
            [CompletionResult]::new('--mesh-namespace', '--mesh-namespace', [CompletionResultType]::ParameterName, 'The mesh''s namespace: the issuer Secret and trust roots are read there')
            [CompletionResult]::new('--trust-domain', '--trust-domain', [CompletionResultType]::ParameterName, 'The mesh''s trust domain (the SPIFFE ids it issues)')
            [CompletionResult]::new('--cluster-domain', '--cluster-domain', [CompletionResultType]::ParameterName, 'The cluster''s DNS domain (service authorities svc.ns.svc.<domain>)')
            [CompletionResult]::new('--grpc-addr', '--grpc-addr', [CompletionResultType]::ParameterName, 'Identity and discovery (gRPC over mesh TLS)')
            [CompletionResult]::new('--admin-addr', '--admin-addr', [CompletionResultType]::ParameterName, '/ready, /live, /metrics, /proxies')
            [CompletionResult]::new('--webhook-addr', '--webhook-addr', [CompletionResultType]::ParameterName, 'The proxy injector the API server calls (HTTPS, POST /inject)')
            [CompletionResult]::new('--tracing-endpoint', '--tracing-endpoint', [CompletionResultType]::ParameterName, 'The OTLP/gRPC collector the injected proxies export spans to (install''s tracing.endpoint) [default: none, tracing off]')
            [CompletionResult]::new('--tracing-sampling', '--tracing-sampling', [CompletionResultType]::ParameterName, 'The share of requests the injected proxies start a trace for (install''s tracing.sampling)')
            [CompletionResult]::new('--leaf-lifetime', '--leaf-lifetime', [CompletionResultType]::ParameterName, 'How long the proxies'' leaf certificates live (renewed at 70 %)')
            [CompletionResult]::new('--from-dir', '--from-dir', [CompletionResultType]::ParameterName, 'Read the objects from this directory of Kubernetes YAML (watched for changes) instead of the API server; Pods with status.podIP give the endpoints of Services without EndpointSlices')
            [CompletionResult]::new('--identity-dir', '--identity-dir', [CompletionResultType]::ParameterName, 'With --from-dir: the CA''s files, as `meshctl certs create --out DIR` wrote them (issuer.crt, issuer.key, ca.crt; reloaded when they change)')
            [CompletionResult]::new('--identity-token-file', '--identity-token-file', [CompletionResultType]::ParameterName, 'With --from-dir: a file holding the token proxies send for their first certificate (their --identity-token-file)')
            [CompletionResult]::new('--lease-duration', '--lease-duration', [CompletionResultType]::ParameterName, 'How long the leader Lease holds without renewal: another replica takes over canaries after the leader stops renewing for this long')
            [CompletionResult]::new('--jwks-refresh', '--jwks-refresh', [CompletionResultType]::ParameterName, 'How often the keys at every RequestAuthentication jwksUri are fetched again (a new jwksUri is fetched at once)')
            [CompletionResult]::new('--log-level', '--log-level', [CompletionResultType]::ParameterName, 'Log filter: error, warn, info, debug, trace, or a tracing filter')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--accept-foreign-labels', '--accept-foreign-labels', [CompletionResultType]::ParameterName, 'Namespaces labelled istio-injection=enabled or annotated linkerd.io/inject: enabled opt in too (migration from Istio or Linkerd)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;analyze' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Manifests: files, directories (recursively: .yaml, .yml, .json) or - for stdin [default: the cluster''s objects, every namespace''s or -n''s]')
            [CompletionResult]::new('--filename', '--filename', [CompletionResultType]::ParameterName, 'Manifests: files, directories (recursively: .yaml, .yml, .json) or - for stdin [default: the cluster''s objects, every namespace''s or -n''s]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--cluster-domain', '--cluster-domain', [CompletionResultType]::ParameterName, 'DNS suffix of Services')
            [CompletionResult]::new('--trust-domain', '--trust-domain', [CompletionResultType]::ParameterName, 'SPIFFE trust domain of the mesh')
            [CompletionResult]::new('--mesh-namespace', '--mesh-namespace', [CompletionResultType]::ParameterName, 'The mesh''s namespace (its policies are mesh-wide), as the controller is run with')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Every namespace''s findings (the default without -n)')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Every namespace''s findings (the default without -n)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;proxy-config' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Manifests: files, directories (recursively: .yaml, .yml, .json) or - for stdin [default: the cluster''s objects]')
            [CompletionResult]::new('--filename', '--filename', [CompletionResultType]::ParameterName, 'Manifests: files, directories (recursively: .yaml, .yml, .json) or - for stdin [default: the cluster''s objects]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--cluster-domain', '--cluster-domain', [CompletionResultType]::ParameterName, 'DNS suffix of Services')
            [CompletionResult]::new('--trust-domain', '--trust-domain', [CompletionResultType]::ParameterName, 'SPIFFE trust domain of the mesh')
            [CompletionResult]::new('--mesh-namespace', '--mesh-namespace', [CompletionResultType]::ParameterName, 'The mesh''s namespace (its policies are mesh-wide), as the controller is run with')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;demo' {
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Directory of the demo''s Kubernetes objects: written there when empty or missing, else used as it is (edit it while the demo runs)')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'The dashboard''s port on 127.0.0.1 (0: any free port)')
            [CompletionResult]::new('--rps', '--rps', [CompletionResultType]::ParameterName, 'Requests per second the client sends to web')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;dashboard' {
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'A proxy''s admin address, HOST:PORT, optionally named: NAME=HOST:PORT (the name shown; default the address). Repeat for each proxy')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'The page''s port on 127.0.0.1 (0: any free port)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'meshctl;help' {
            [CompletionResult]::new('version', 'version', [CompletionResultType]::ParameterValue, 'Print the client version')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Generate shell completions or the man page')
            [CompletionResult]::new('certs', 'certs', [CompletionResultType]::ParameterValue, 'Create the mesh''s trust anchor and issuer; inspect certificates')
            [CompletionResult]::new('install', 'install', [CompletionResultType]::ParameterValue, 'Print the control plane''s manifests, or apply them to the cluster (--apply)')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Check the cluster before installing (--pre) or the health of an install')
            [CompletionResult]::new('upgrade', 'upgrade', [CompletionResultType]::ParameterValue, 'Upgrade an install: its recorded values plus new overrides, pruning what is gone')
            [CompletionResult]::new('uninstall', 'uninstall', [CompletionResultType]::ParameterValue, 'Remove the control plane from the cluster (--apply; refused while pods are meshed)')
            [CompletionResult]::new('inject', 'inject', [CompletionResultType]::ParameterValue, 'Add the meshctl proxy to the pod templates of Kubernetes manifests')
            [CompletionResult]::new('uninject', 'uninject', [CompletionResultType]::ParameterValue, 'Remove what `meshctl inject` added to manifests')
            [CompletionResult]::new('proxy-await', 'proxy-await', [CompletionResultType]::ParameterValue, 'Wait until the local proxy is ready (the classic sidecar''s postStart hook)')
            [CompletionResult]::new('proxy-init', 'proxy-init', [CompletionResultType]::ParameterValue, 'Install the pod''s iptables rules that send its TCP through the proxy (init container)')
            [CompletionResult]::new('proxy', 'proxy', [CompletionResultType]::ParameterValue, 'Run the sidecar proxy: from a static config file, or from the controller (the data plane)')
            [CompletionResult]::new('stat', 'stat', [CompletionResultType]::ParameterValue, 'Golden signals (success, RPS, latency percentiles) read from proxies'' admin ports')
            [CompletionResult]::new('edges', 'edges', [CompletionResultType]::ParameterValue, 'Who calls whom among cluster resources, with both sides'' identities and mTLS')
            [CompletionResult]::new('tap', 'tap', [CompletionResultType]::ParameterValue, 'Live requests of a resource''s pods, one line each, from their proxies')
            [CompletionResult]::new('top', 'top', [CompletionResultType]::ParameterValue, 'The busiest paths of a resource''s pods, live, from their proxies')
            [CompletionResult]::new('routes', 'routes', [CompletionResultType]::ParameterValue, 'A service''s success, RPS and latency per route of its config, from its clients'' proxies')
            [CompletionResult]::new('canary', 'canary', [CompletionResultType]::ParameterValue, 'Canary releases: set the weights of the object that routes a Service')
            [CompletionResult]::new('controller', 'controller', [CompletionResultType]::ParameterValue, 'Run the control plane: discovery and identity for the proxies (what the install runs)')
            [CompletionResult]::new('analyze', 'analyze', [CompletionResultType]::ParameterValue, 'Translate manifests (or the cluster''s objects) and report what the mesh cannot apply as written')
            [CompletionResult]::new('proxy-config', 'proxy-config', [CompletionResultType]::ParameterValue, 'The config a workload''s proxies receive, as the controller computes it (or from manifests)')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'A whole mesh on this machine (loopback, no root, no cluster) and its dashboard')
            [CompletionResult]::new('dashboard', 'dashboard', [CompletionResultType]::ParameterValue, 'A web page of proxies'' topology and golden signals, live')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'meshctl;help;version' {
            break
        }
        'meshctl;help;completions' {
            break
        }
        'meshctl;help;certs' {
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a trust anchor (root) and an issuer for a trust domain (ECDSA P-256)')
            [CompletionResult]::new('inspect', 'inspect', [CompletionResultType]::ParameterValue, 'Show subject, SANs, validity, issuer and chain status of PEM certificates')
            [CompletionResult]::new('issue', 'issue', [CompletionResultType]::ParameterValue, 'Issue a workload leaf (cert.pem, key.pem, roots.pem) for a proxy''s static `identity:`')
            break
        }
        'meshctl;help;certs;create' {
            break
        }
        'meshctl;help;certs;inspect' {
            break
        }
        'meshctl;help;certs;issue' {
            break
        }
        'meshctl;help;install' {
            break
        }
        'meshctl;help;check' {
            break
        }
        'meshctl;help;upgrade' {
            break
        }
        'meshctl;help;uninstall' {
            break
        }
        'meshctl;help;inject' {
            break
        }
        'meshctl;help;uninject' {
            break
        }
        'meshctl;help;proxy-await' {
            break
        }
        'meshctl;help;proxy-init' {
            break
        }
        'meshctl;help;proxy' {
            break
        }
        'meshctl;help;stat' {
            break
        }
        'meshctl;help;edges' {
            break
        }
        'meshctl;help;tap' {
            break
        }
        'meshctl;help;top' {
            break
        }
        'meshctl;help;routes' {
            break
        }
        'meshctl;help;canary' {
            [CompletionResult]::new('set-weight', 'set-weight', [CompletionResultType]::ParameterValue, 'Set the canary''s weight on the HTTPRoute, TrafficSplit or VirtualService routing a Service')
            [CompletionResult]::new('start', 'start', [CompletionResultType]::ParameterValue, 'Start a progressive rollout, driven by the controller (recorded as a Canary object)')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show a rollout''s step, weights set and acked, last analysis and events')
            [CompletionResult]::new('promote', 'promote', [CompletionResultType]::ParameterValue, 'Skip the current step''s analysis, or go to 100 % (--full)')
            [CompletionResult]::new('abort', 'abort', [CompletionResultType]::ParameterValue, 'Send all traffic back to the stable backends at once and stop the rollout')
            [CompletionResult]::new('pause', 'pause', [CompletionResultType]::ParameterValue, 'Hold the rollout at its current weight')
            [CompletionResult]::new('resume', 'resume', [CompletionResultType]::ParameterValue, 'Continue a paused rollout (its analysis window starts again)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the rollouts of the namespace (-A: of every namespace)')
            break
        }
        'meshctl;help;canary;set-weight' {
            break
        }
        'meshctl;help;canary;start' {
            break
        }
        'meshctl;help;canary;status' {
            break
        }
        'meshctl;help;canary;promote' {
            break
        }
        'meshctl;help;canary;abort' {
            break
        }
        'meshctl;help;canary;pause' {
            break
        }
        'meshctl;help;canary;resume' {
            break
        }
        'meshctl;help;canary;list' {
            break
        }
        'meshctl;help;controller' {
            break
        }
        'meshctl;help;analyze' {
            break
        }
        'meshctl;help;proxy-config' {
            break
        }
        'meshctl;help;demo' {
            break
        }
        'meshctl;help;dashboard' {
            break
        }
        'meshctl;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
