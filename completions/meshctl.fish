# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_meshctl_global_optspecs
    string join \n kubeconfig= context= n/namespace= v/verbose h/help V/version
end

function __fish_meshctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_meshctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_meshctl_using_subcommand
    set -l cmd (__fish_meshctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c meshctl -n "__fish_meshctl_needs_command" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_needs_command" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_needs_command" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_needs_command" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c meshctl -n "__fish_meshctl_needs_command" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "version" -d 'Print the client version'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "completions" -d 'Generate shell completions or the man page'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "certs" -d 'Create the mesh\'s trust anchor and issuer; inspect certificates'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "install" -d 'Print the control plane\'s manifests, or apply them to the cluster (--apply)'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "check" -d 'Check the cluster before installing (--pre) or the health of an install'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "upgrade" -d 'Upgrade an install: its recorded values plus new overrides, pruning what is gone'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "uninstall" -d 'Remove the control plane from the cluster (--apply; refused while pods are meshed)'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "inject" -d 'Add the meshctl proxy to the pod templates of Kubernetes manifests'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "uninject" -d 'Remove what `meshctl inject` added to manifests'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "proxy-await" -d 'Wait until the local proxy is ready (the classic sidecar\'s postStart hook)'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "proxy-init" -d 'Install the pod\'s iptables rules that send its TCP through the proxy (init container)'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "proxy" -d 'Run the sidecar proxy: from a static config file, or from the controller (the data plane)'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "stat" -d 'Golden signals (success, RPS, latency percentiles) read from proxies\' admin ports'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "edges" -d 'Who calls whom among cluster resources, with both sides\' identities and mTLS'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "tap" -d 'Live requests of a resource\'s pods, one line each, from their proxies'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "top" -d 'The busiest paths of a resource\'s pods, live, from their proxies'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "routes" -d 'A service\'s success, RPS and latency per route of its config, from its clients\' proxies'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "canary" -d 'Canary releases: set the weights of the object that routes a Service'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "controller" -d 'Run the control plane: discovery and identity for the proxies (what the install runs)'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "analyze" -d 'Translate manifests (or the cluster\'s objects) and report what the mesh cannot apply as written'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "proxy-config" -d 'The config a workload\'s proxies receive, as the controller computes it (or from manifests)'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "demo" -d 'A whole mesh on this machine (loopback, no root, no cluster) and its dashboard'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "dashboard" -d 'A web page of proxies\' topology and golden signals, live'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c meshctl -n "__fish_meshctl_using_subcommand version" -s o -l output -d 'Output format' -r -f -a "text\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand version" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand version" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand version" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand version" -l short -d 'Print only the version number'
complete -c meshctl -n "__fish_meshctl_using_subcommand version" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand version" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand version" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand completions" -l write-all -d 'Write every completion file and the man page into DIR instead of printing one' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand completions" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand completions" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand completions" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand completions" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand completions" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand completions" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and not __fish_seen_subcommand_from create inspect issue help" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and not __fish_seen_subcommand_from create inspect issue help" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and not __fish_seen_subcommand_from create inspect issue help" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and not __fish_seen_subcommand_from create inspect issue help" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and not __fish_seen_subcommand_from create inspect issue help" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and not __fish_seen_subcommand_from create inspect issue help" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and not __fish_seen_subcommand_from create inspect issue help" -f -a "create" -d 'Create a trust anchor (root) and an issuer for a trust domain (ECDSA P-256)'
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and not __fish_seen_subcommand_from create inspect issue help" -f -a "inspect" -d 'Show subject, SANs, validity, issuer and chain status of PEM certificates'
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and not __fish_seen_subcommand_from create inspect issue help" -f -a "issue" -d 'Issue a workload leaf (cert.pem, key.pem, roots.pem) for a proxy\'s static `identity:`'
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and not __fish_seen_subcommand_from create inspect issue help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from create" -l trust-domain -d 'Trust domain of the mesh\'s SPIFFE ids (spiffe://<trust-domain>/ns/<ns>/sa/<sa>)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from create" -l out -d 'Directory to write ca.crt, ca.key, issuer.crt and issuer.key into (created if missing)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from create" -l anchor-validity -d 'Lifetime of the trust anchor' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from create" -l issuer-validity -d 'Lifetime of the issuer (at most the anchor\'s)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from create" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from create" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from create" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from create" -l force -d 'Overwrite files that already exist'
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from create" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from inspect" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from inspect" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from inspect" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from inspect" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from inspect" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from inspect" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from inspect" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from issue" -l identity -d 'The SPIFFE id to certify: spiffe://<trust-domain>/ns/<ns>/sa/<sa>' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from issue" -l ca-dir -d 'Directory holding ca.crt, issuer.crt and issuer.key (as `certs create` wrote them)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from issue" -l out -d 'Directory to write cert.pem (leaf + issuer), key.pem and roots.pem into' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from issue" -l validity -d 'Lifetime of the leaf' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from issue" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from issue" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from issue" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from issue" -l force -d 'Overwrite files that already exist'
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from issue" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from issue" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from issue" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a trust anchor (root) and an issuer for a trust domain (ECDSA P-256)'
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from help" -f -a "inspect" -d 'Show subject, SANs, validity, issuer and chain status of PEM certificates'
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from help" -f -a "issue" -d 'Issue a workload leaf (cert.pem, key.pem, roots.pem) for a proxy\'s static `identity:`'
complete -c meshctl -n "__fish_meshctl_using_subcommand certs; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c meshctl -n "__fish_meshctl_using_subcommand install" -s f -l values -d 'A YAML file of values (repeatable; later files win)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand install" -l set-file -d 'Set a value from a file\'s contents, e.g. --set-file key=path (repeatable)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand install" -l set -d 'Set a value, e.g. --set controller.replicas=2 (repeatable)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand install" -l identity-trust-anchors-file -d 'PEM trust anchor(s) every proxy verifies peers with' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand install" -l identity-issuer-certificate-file -d 'PEM issuer certificate (signed by a trust anchor)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand install" -l identity-issuer-key-file -d 'PEM private key of the issuer' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand install" -l dry-run -d 'Have the API server check every object without storing anything (implies talking to the cluster)' -r -f -a "server\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand install" -l crds -d 'Which CRDs to install: auto = meshctl\'s own, and other products\' config-API CRDs (Gateway API, Istio, SMI) the cluster lacks (printing: meshctl\'s own only: a printed copy would overwrite theirs), all = all (when applying, an error if another product owns one), none' -r -f -a "auto\t''
all\t''
none\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand install" -l wait -d 'Wait for CRDs to be Established and the controller to be ready (--wait=false skips)' -r -f -a "true\t''
false\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand install" -l timeout -d 'How long each wait may take' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand install" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand install" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand install" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand install" -l ha -d 'High availability: 3 controller replicas, a PodDisruptionBudget, anti-affinity'
complete -c meshctl -n "__fish_meshctl_using_subcommand install" -l apply -d 'Apply to the cluster with server-side apply instead of printing the manifests'
complete -c meshctl -n "__fish_meshctl_using_subcommand install" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand install" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand install" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand check" -l mesh-namespace -d 'With --proxy: the mesh\'s namespace, whose trust anchors the proxies must use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand check" -l wait -d 'Retry until every check passes or this much time has passed, e.g. --wait 2m' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand check" -s o -l output -d 'Output format' -r -f -a "text\t''
short\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand check" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand check" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand check" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand check" -l pre -d 'Run the pre-install checks instead of checking an install'
complete -c meshctl -n "__fish_meshctl_using_subcommand check" -l proxy -d 'Check the data plane (every meshed pod\'s proxy) instead of the control plane; -n limits it to one namespace (default: every namespace)'
complete -c meshctl -n "__fish_meshctl_using_subcommand check" -l list -d 'Print the catalogue of checks (ids, descriptions, hints) and exit'
complete -c meshctl -n "__fish_meshctl_using_subcommand check" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand check" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand check" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand upgrade" -s f -l values -d 'A YAML file of values (repeatable; later files win)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand upgrade" -l set-file -d 'Set a value from a file\'s contents, e.g. --set-file key=path (repeatable)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand upgrade" -l set -d 'Set a value, e.g. --set controller.replicas=2 (repeatable)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand upgrade" -l identity-trust-anchors-file -d 'PEM trust anchor(s) every proxy verifies peers with' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand upgrade" -l identity-issuer-certificate-file -d 'PEM issuer certificate (signed by a trust anchor)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand upgrade" -l identity-issuer-key-file -d 'PEM private key of the issuer' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand upgrade" -l dry-run -d 'Have the API server check every object without storing anything (implies talking to the cluster)' -r -f -a "server\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand upgrade" -l crds -d 'Which CRDs to install: auto = meshctl\'s own, and other products\' config-API CRDs (Gateway API, Istio, SMI) the cluster lacks (printing: meshctl\'s own only: a printed copy would overwrite theirs), all = all (when applying, an error if another product owns one), none' -r -f -a "auto\t''
all\t''
none\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand upgrade" -l wait -d 'Wait for CRDs to be Established and the controller to be ready (--wait=false skips)' -r -f -a "true\t''
false\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand upgrade" -l timeout -d 'How long each wait may take' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand upgrade" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand upgrade" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand upgrade" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand upgrade" -l ha -d 'High availability: 3 controller replicas, a PodDisruptionBudget, anti-affinity'
complete -c meshctl -n "__fish_meshctl_using_subcommand upgrade" -l apply -d 'Apply to the cluster with server-side apply instead of printing the manifests'
complete -c meshctl -n "__fish_meshctl_using_subcommand upgrade" -l rotate-webhook-cert -d 'Replace the webhook\'s CA and serving certificate (done anyway within 30 days of its end); the caBundle trusts the old CA too until the next upgrade'
complete -c meshctl -n "__fish_meshctl_using_subcommand upgrade" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand upgrade" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand upgrade" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand uninstall" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand uninstall" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand uninstall" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand uninstall" -l apply -d 'Delete the objects instead of printing what would be deleted'
complete -c meshctl -n "__fish_meshctl_using_subcommand uninstall" -l force -d 'Delete even while meshed pods still run (their proxies lose the controller)'
complete -c meshctl -n "__fish_meshctl_using_subcommand uninstall" -l keep-crds -d 'Keep meshctl\'s CRDs (and every custom resource of them)'
complete -c meshctl -n "__fish_meshctl_using_subcommand uninstall" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand uninstall" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand uninstall" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l proxy-image -d 'Proxy and init image [default: ghcr.io/meshctl/meshctl:<this version>]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l proxy-log-level -d 'Proxy log filter, e.g. info or warn,meshctl=debug [default: info]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l proxy-log-format -d 'Proxy log format [default: text]' -r -f -a "text\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l proxy-cpu-request -d 'Proxy CPU request [default: 100m]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l proxy-cpu-limit -d 'Proxy CPU limit [default: none]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l proxy-memory-request -d 'Proxy memory request [default: 64Mi]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l proxy-memory-limit -d 'Proxy memory limit [default: 256Mi]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l skip-inbound-ports -d 'Inbound ports that bypass the proxy, e.g. 22,8000-8100' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l skip-outbound-ports -d 'Outbound ports that bypass the proxy, e.g. 3306,6379,8000-8100' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l skip-outbound-cidrs -d 'Outbound CIDRs that bypass the proxy, e.g. 10.0.0.0/8' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l opaque-ports -d 'Inbound ports proxied as opaque TCP (no protocol detection), e.g. 3306' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l localhost-ports -d 'Ports the app listens on at localhost only that peers may still reach, e.g. 9000 (other localhost-only ports stay private to the pod)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l native-sidecar -d 'Run the proxy as a native sidecar (Kubernetes 1.29+); =false puts it first in `containers` and holds the app back until it is ready' -r -f -a "true\t''
false\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l iptables-mode -d 'iptables backend for the init step [default: auto]' -r -f -a "auto\t''
nft\t''
legacy\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l admin-operator-from -d 'Who besides loopback may read the proxies\' /config, /identity and /stats: `all`, or networks such as the nodes the API server\'s pod proxy comes from (`meshctl stat`, `check --proxy`) [default: loopback only]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l mesh-namespace -d 'Namespace of the control plane the proxies use (`install -n`) [default: meshctl-system]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l trust-domain -d 'Trust domain of the mesh\'s identities (`install --set identity.trustDomain`) [default: cluster.local]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l tracing-endpoint -d 'The OTLP/gRPC collector the proxies export spans to (`install --set tracing.endpoint`) [default: none, tracing off]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l tracing-sampling -d 'The share of requests the proxies start a trace for, 0.0 to 1.0 (`install --set tracing.sampling`) [default: 0: only requests that come sampled]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l annotate-only -d 'Only add the annotation `meshctl.io/inject: enabled` (the admission webhook injects)'
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l skip-uninjectable -d 'Pass objects that cannot be injected (hostNetwork, another mesh\'s sidecar) through unchanged with a warning instead of failing'
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -l preview -l diff -d 'Print what injection would change instead of the manifests: per object, the JSON patch (RFC 6902) the admission webhook would answer, as a JSON list'
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand inject" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand uninject" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand uninject" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand uninject" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand uninject" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand uninject" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand uninject" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-await" -l admin-port -d 'The proxy\'s admin port on 127.0.0.1' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-await" -l timeout -d 'Give up (and fail) after this long' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-await" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-await" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-await" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-await" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-await" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-await" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-init" -l inbound-port -d 'Port of the proxy\'s inbound listener: inbound TCP is redirected here' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-init" -l outbound-port -d 'Port of the proxy\'s outbound listener: the app\'s outbound TCP is redirected here' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-init" -l proxy-uid -d 'The proxy\'s uid: its own connections are never redirected' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-init" -l admin-port -d 'The proxy\'s admin port: reaches the proxy directly (probes, metrics)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-init" -l skip-inbound-ports -d 'Inbound ports that reach the app directly (comma list, ranges as 8000-8100)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-init" -l skip-outbound-ports -d 'Outbound ports the app reaches directly (comma list, ranges as 8000-8100)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-init" -l skip-outbound-cidrs -d 'Outbound networks the app reaches directly (comma list of IPv4/IPv6 CIDRs)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-init" -l iptables-mode -d 'iptables backend: auto asks `iptables --version` (nf_tables or legacy)' -r -f -a "auto\t''
nft\t''
legacy\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-init" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-init" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-init" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-init" -l dry-run -d 'Print the commands (a shell script) instead of running them'
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-init" -l cleanup -d 'Remove meshctl\'s chains and the jumps to them instead of installing'
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-init" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-init" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-init" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l config -d 'The static config file (listeners, services, routes, policies); reloaded on change and SIGHUP. Without it the config is empty: inbound traffic goes to the app on loopback, intercepted outbound traffic passes through as plain TCP' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l outbound-addr -d 'Outbound listener (the app\'s outgoing traffic) [default: from the file, else 127.0.0.1:4140]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l inbound-addr -d 'Inbound listener (traffic for the app) [default: from the file, else 0.0.0.0:4143]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l admin-addr -d 'Admin listener (/metrics, /ready, /live, /stats, /config) [default: from the file, else 0.0.0.0:4191]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l inbound-app-port -d 'The app\'s port on 127.0.0.1 for inbound connections that were not intercepted [default: from the file, else none: such connections are closed]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l inbound-app-ip -d 'The address the app listens on for inbound connections (another loopback address when several apps share a host, as `meshctl demo` runs them)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l inbound-ports-opaque -d 'Inbound ports forwarded as TCP without protocol detection (comma list)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l inbound-ports-localhost -d 'Ports the app listens on at localhost only that peers may still reach (comma list); intercepted connections for other such ports are closed, as they would be without a proxy' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l admin-operator-from -d 'Who besides loopback may read /config, /identity and /stats on the admin port: `all`, or networks such as 10.0.0.0/16 (the nodes the API server\'s pod proxy comes from, for `meshctl stat` and `check --proxy`); /ready, /live and /metrics stay open to all' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l log-level -d 'Log filter: error, warn, info, debug, trace, or a tracing filter like "meshctl=debug"' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l log-format -d 'Log line format' -r -f -a "text\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l workers -d 'Worker threads; 1 runs everything on one thread (smallest memory, best per-core speed)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l tracing-endpoint -d 'The OTLP/gRPC collector spans are exported to (turns tracing on)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l tracing-sampling -d 'The share of requests without a caller\'s sampling decision that start a trace (0.0 to 1.0) [default: from the file, else 0]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l tracing-service-name -d 'The spans\' service.name [default: from the file, else the pod\'s service account in cluster mode, else meshctl-proxy]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l controller-addr -d 'The controller\'s gRPC address (identity and discovery); turns on cluster mode' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l controller-namespace -d 'The mesh\'s namespace: the controller\'s identity is its service account there [default: the namespace in --controller-addr (meshctl-controller.<ns>.svc:8086), else meshctl-system]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l trust-domain -d 'The mesh\'s trust domain' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l identity-trust-roots -d 'PEM trust anchors (the mesh\'s trust-roots ConfigMap, mounted)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l identity-token-file -d 'The projected service-account token sent to the CA' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l pod-name -d 'This pod\'s name (the downward API)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l pod-namespace -d 'This pod\'s namespace' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l service-account -d 'This pod\'s service account: the proxy\'s identity is spiffe://<trust-domain>/ns/<pod-namespace>/sa/<service-account>' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l drain-seconds -d 'How long in-flight requests may finish after SIGTERM, in seconds' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand stat" -l to -d 'Only traffic the resources sent to this one (KIND/NAME, e.g. deploy/web)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand stat" -l from -d 'Only traffic the resources received from this one (KIND/NAME)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand stat" -l to-namespace -d 'The namespace of --to\'s resource (default: the resources\' own)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand stat" -l from-namespace -d 'The namespace of --from\'s resource (default: the resources\' own)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand stat" -l proxy -d 'A proxy\'s admin address (HOST:PORT, e.g. 127.0.0.1:4191) to ask instead of a cluster; repeat for several proxies' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand stat" -l window -d 'How far back to look (10s to 10m)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand stat" -l timeout -d 'Give up on a proxy that has not answered after this long' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand stat" -s o -l output -d 'Output format (wide adds bytes/s in and out, retries, timeouts and ejected endpoints)' -r -f -a "table\t''
wide\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand stat" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand stat" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand stat" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand stat" -s A -l all-namespaces -d 'Every namespace instead of -n\'s (or the context\'s)'
complete -c meshctl -n "__fish_meshctl_using_subcommand stat" -s w -l watch -d 'Ask again and redraw every 2 seconds until interrupted'
complete -c meshctl -n "__fish_meshctl_using_subcommand stat" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand stat" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand stat" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand edges" -l window -d 'How far back to look (10s to 10m)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand edges" -l timeout -d 'Give up on a proxy that has not answered after this long' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand edges" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand edges" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand edges" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand edges" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand edges" -s A -l all-namespaces -d 'Every namespace instead of -n\'s (or the context\'s)'
complete -c meshctl -n "__fish_meshctl_using_subcommand edges" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand edges" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand edges" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand tap" -l proxy -d 'A proxy\'s admin address (HOST:PORT) to tap instead of a cluster; repeat for several' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand tap" -l path -d 'Only requests whose path starts with this' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand tap" -l method -d 'Only requests with this method' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand tap" -l authority -d 'Only requests whose authority starts with this' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand tap" -l direction -d 'Only inbound or outbound requests' -r -f -a "inbound\t''
outbound\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand tap" -l max-rps -d 'Most events per second from each proxy (the proxy skips the rest)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand tap" -l limit -d 'Stop after this many events' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand tap" -l headers -d 'Request headers to show (allowed: user-agent, content-type, content-length, accept, x-request-id, traceparent)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand tap" -s o -l output -d 'Output format: a line of text, or a JSON object, per request' -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand tap" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand tap" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand tap" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand tap" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand tap" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand tap" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand top" -l proxy -d 'A proxy\'s admin address (HOST:PORT) to tap instead of a cluster; repeat for several' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand top" -l path -d 'Only requests whose path starts with this' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand top" -l method -d 'Only requests with this method' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand top" -l authority -d 'Only requests whose authority starts with this' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand top" -l direction -d 'Only inbound or outbound requests' -r -f -a "inbound\t''
outbound\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand top" -l max-rps -d 'Most events per second from each proxy (the proxy skips the rest)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand top" -l limit -d 'Stop after this many events' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand top" -l interval -d 'How often the table is drawn' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand top" -l rows -d 'Rows shown' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand top" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand top" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand top" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand top" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand top" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand top" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand routes" -l window -d 'How far back to look (10s to 10m)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand routes" -l timeout -d 'Give up on a proxy that has not answered after this long' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand routes" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand routes" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand routes" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand routes" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand routes" -l all-clients -d 'Count clients in every namespace, not only the target\'s'
complete -c meshctl -n "__fish_meshctl_using_subcommand routes" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand routes" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand routes" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and not __fish_seen_subcommand_from set-weight start status promote abort pause resume list help" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and not __fish_seen_subcommand_from set-weight start status promote abort pause resume list help" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and not __fish_seen_subcommand_from set-weight start status promote abort pause resume list help" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and not __fish_seen_subcommand_from set-weight start status promote abort pause resume list help" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and not __fish_seen_subcommand_from set-weight start status promote abort pause resume list help" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and not __fish_seen_subcommand_from set-weight start status promote abort pause resume list help" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and not __fish_seen_subcommand_from set-weight start status promote abort pause resume list help" -f -a "set-weight" -d 'Set the canary\'s weight on the HTTPRoute, TrafficSplit or VirtualService routing a Service'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and not __fish_seen_subcommand_from set-weight start status promote abort pause resume list help" -f -a "start" -d 'Start a progressive rollout, driven by the controller (recorded as a Canary object)'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and not __fish_seen_subcommand_from set-weight start status promote abort pause resume list help" -f -a "status" -d 'Show a rollout\'s step, weights set and acked, last analysis and events'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and not __fish_seen_subcommand_from set-weight start status promote abort pause resume list help" -f -a "promote" -d 'Skip the current step\'s analysis, or go to 100 % (--full)'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and not __fish_seen_subcommand_from set-weight start status promote abort pause resume list help" -f -a "abort" -d 'Send all traffic back to the stable backends at once and stop the rollout'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and not __fish_seen_subcommand_from set-weight start status promote abort pause resume list help" -f -a "pause" -d 'Hold the rollout at its current weight'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and not __fish_seen_subcommand_from set-weight start status promote abort pause resume list help" -f -a "resume" -d 'Continue a paused rollout (its analysis window starts again)'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and not __fish_seen_subcommand_from set-weight start status promote abort pause resume list help" -f -a "list" -d 'List the rollouts of the namespace (-A: of every namespace)'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and not __fish_seen_subcommand_from set-weight start status promote abort pause resume list help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from set-weight" -l create -d 'When no object routes the Service, write one of this kind (to the Service and the canary)' -r -f -a "httproute\t''
trafficsplit\t''
virtualservice\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from set-weight" -s o -l output -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from set-weight" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from set-weight" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from set-weight" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from set-weight" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from set-weight" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from set-weight" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from start" -l canary -d 'The canary: a Service (its pods are analysed), or a VirtualService subset' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from start" -l step -d 'Steps of this many percent up to --max-weight' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from start" -l steps -d 'The canary weights in order, e.g. 1,5,25,50' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from start" -l interval -d 'How long each step is analysed (and the time between checks)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from start" -l max-weight -d 'The last step\'s weight with --step (default 50)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from start" -l success-rate -d 'Lowest success rate that passes, in percent' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from start" -l p99 -d 'Highest p99 latency that passes' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from start" -l threshold -d 'Failed checks that roll the canary back' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from start" -l min-requests -d 'Fewer requests in a window is no verdict (the check waits for traffic)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from start" -l load -d 'Send synthetic GETs to this http:// URL (reaching the canary) while the rollout runs' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from start" -l load-rps -d 'Requests per second with --load' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from start" -s o -l output -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from start" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from start" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from start" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from start" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from start" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from start" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from status" -s o -l output -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from status" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from status" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from status" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from status" -s w -l watch -d 'Follow it until it ends, printing each change'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from status" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from promote" -s o -l output -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from promote" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from promote" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from promote" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from promote" -l full -d 'Straight to 100 % instead of skipping the current step\'s analysis'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from promote" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from promote" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from promote" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from abort" -s o -l output -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from abort" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from abort" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from abort" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from abort" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from abort" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from abort" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from pause" -s o -l output -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from pause" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from pause" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from pause" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from pause" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from pause" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from pause" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from resume" -s o -l output -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from resume" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from resume" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from resume" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from resume" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from resume" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from resume" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from list" -s o -l output -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from list" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from list" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from list" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from list" -s A -l all-namespaces -d 'Every namespace'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from help" -f -a "set-weight" -d 'Set the canary\'s weight on the HTTPRoute, TrafficSplit or VirtualService routing a Service'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from help" -f -a "start" -d 'Start a progressive rollout, driven by the controller (recorded as a Canary object)'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from help" -f -a "status" -d 'Show a rollout\'s step, weights set and acked, last analysis and events'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from help" -f -a "promote" -d 'Skip the current step\'s analysis, or go to 100 % (--full)'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from help" -f -a "abort" -d 'Send all traffic back to the stable backends at once and stop the rollout'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from help" -f -a "pause" -d 'Hold the rollout at its current weight'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from help" -f -a "resume" -d 'Continue a paused rollout (its analysis window starts again)'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the rollouts of the namespace (-A: of every namespace)'
complete -c meshctl -n "__fish_meshctl_using_subcommand canary; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c meshctl -n "__fish_meshctl_using_subcommand controller" -l mesh-namespace -d 'The mesh\'s namespace: the issuer Secret and trust roots are read there' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand controller" -l trust-domain -d 'The mesh\'s trust domain (the SPIFFE ids it issues)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand controller" -l cluster-domain -d 'The cluster\'s DNS domain (service authorities svc.ns.svc.<domain>)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand controller" -l grpc-addr -d 'Identity and discovery (gRPC over mesh TLS)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand controller" -l admin-addr -d '/ready, /live, /metrics, /proxies' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand controller" -l webhook-addr -d 'The proxy injector the API server calls (HTTPS, POST /inject)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand controller" -l tracing-endpoint -d 'The OTLP/gRPC collector the injected proxies export spans to (install\'s tracing.endpoint) [default: none, tracing off]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand controller" -l tracing-sampling -d 'The share of requests the injected proxies start a trace for (install\'s tracing.sampling)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand controller" -l leaf-lifetime -d 'How long the proxies\' leaf certificates live (renewed at 70 %)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand controller" -l from-dir -d 'Read the objects from this directory of Kubernetes YAML (watched for changes) instead of the API server; Pods with status.podIP give the endpoints of Services without EndpointSlices' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand controller" -l identity-dir -d 'With --from-dir: the CA\'s files, as `meshctl certs create --out DIR` wrote them (issuer.crt, issuer.key, ca.crt; reloaded when they change)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand controller" -l identity-token-file -d 'With --from-dir: a file holding the token proxies send for their first certificate (their --identity-token-file)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand controller" -l lease-duration -d 'How long the leader Lease holds without renewal: another replica takes over canaries after the leader stops renewing for this long' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand controller" -l jwks-refresh -d 'How often the keys at every RequestAuthentication jwksUri are fetched again (a new jwksUri is fetched at once)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand controller" -l log-level -d 'Log filter: error, warn, info, debug, trace, or a tracing filter' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand controller" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand controller" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand controller" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand controller" -l accept-foreign-labels -d 'Namespaces labelled istio-injection=enabled or annotated linkerd.io/inject: enabled opt in too (migration from Istio or Linkerd)'
complete -c meshctl -n "__fish_meshctl_using_subcommand controller" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand controller" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand controller" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand analyze" -s f -l filename -d 'Manifests: files, directories (recursively: .yaml, .yml, .json) or - for stdin [default: the cluster\'s objects, every namespace\'s or -n\'s]' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand analyze" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand analyze" -l cluster-domain -d 'DNS suffix of Services' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand analyze" -l trust-domain -d 'SPIFFE trust domain of the mesh' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand analyze" -l mesh-namespace -d 'The mesh\'s namespace (its policies are mesh-wide), as the controller is run with' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand analyze" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand analyze" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand analyze" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand analyze" -s A -l all-namespaces -d 'Every namespace\'s findings (the default without -n)'
complete -c meshctl -n "__fish_meshctl_using_subcommand analyze" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand analyze" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand analyze" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-config" -s f -l filename -d 'Manifests: files, directories (recursively: .yaml, .yml, .json) or - for stdin [default: the cluster\'s objects]' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-config" -s o -l output -d 'Output format' -r -f -a "yaml\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-config" -l cluster-domain -d 'DNS suffix of Services' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-config" -l trust-domain -d 'SPIFFE trust domain of the mesh' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-config" -l mesh-namespace -d 'The mesh\'s namespace (its policies are mesh-wide), as the controller is run with' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-config" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-config" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-config" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-config" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-config" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand proxy-config" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand demo" -l dir -d 'Directory of the demo\'s Kubernetes objects: written there when empty or missing, else used as it is (edit it while the demo runs)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand demo" -l port -d 'The dashboard\'s port on 127.0.0.1 (0: any free port)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand demo" -l rps -d 'Requests per second the client sends to web' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand demo" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand demo" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand demo" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand demo" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand demo" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand demo" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand dashboard" -l proxy -d 'A proxy\'s admin address, HOST:PORT, optionally named: NAME=HOST:PORT (the name shown; default the address). Repeat for each proxy' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand dashboard" -l port -d 'The page\'s port on 127.0.0.1 (0: any free port)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand dashboard" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand dashboard" -l context -d 'The kubeconfig context to use' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand dashboard" -s n -l namespace -d 'The namespace to work in' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand dashboard" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides'
complete -c meshctl -n "__fish_meshctl_using_subcommand dashboard" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand dashboard" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "version" -d 'Print the client version'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "completions" -d 'Generate shell completions or the man page'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "certs" -d 'Create the mesh\'s trust anchor and issuer; inspect certificates'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "install" -d 'Print the control plane\'s manifests, or apply them to the cluster (--apply)'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "check" -d 'Check the cluster before installing (--pre) or the health of an install'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "upgrade" -d 'Upgrade an install: its recorded values plus new overrides, pruning what is gone'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "uninstall" -d 'Remove the control plane from the cluster (--apply; refused while pods are meshed)'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "inject" -d 'Add the meshctl proxy to the pod templates of Kubernetes manifests'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "uninject" -d 'Remove what `meshctl inject` added to manifests'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "proxy-await" -d 'Wait until the local proxy is ready (the classic sidecar\'s postStart hook)'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "proxy-init" -d 'Install the pod\'s iptables rules that send its TCP through the proxy (init container)'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "proxy" -d 'Run the sidecar proxy: from a static config file, or from the controller (the data plane)'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "stat" -d 'Golden signals (success, RPS, latency percentiles) read from proxies\' admin ports'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "edges" -d 'Who calls whom among cluster resources, with both sides\' identities and mTLS'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "tap" -d 'Live requests of a resource\'s pods, one line each, from their proxies'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "top" -d 'The busiest paths of a resource\'s pods, live, from their proxies'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "routes" -d 'A service\'s success, RPS and latency per route of its config, from its clients\' proxies'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "canary" -d 'Canary releases: set the weights of the object that routes a Service'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "controller" -d 'Run the control plane: discovery and identity for the proxies (what the install runs)'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "analyze" -d 'Translate manifests (or the cluster\'s objects) and report what the mesh cannot apply as written'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "proxy-config" -d 'The config a workload\'s proxies receive, as the controller computes it (or from manifests)'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "demo" -d 'A whole mesh on this machine (loopback, no root, no cluster) and its dashboard'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "dashboard" -d 'A web page of proxies\' topology and golden signals, live'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from version completions certs install check upgrade uninstall inject uninject proxy-await proxy-init proxy stat edges tap top routes canary controller analyze proxy-config demo dashboard help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and __fish_seen_subcommand_from certs" -f -a "create" -d 'Create a trust anchor (root) and an issuer for a trust domain (ECDSA P-256)'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and __fish_seen_subcommand_from certs" -f -a "inspect" -d 'Show subject, SANs, validity, issuer and chain status of PEM certificates'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and __fish_seen_subcommand_from certs" -f -a "issue" -d 'Issue a workload leaf (cert.pem, key.pem, roots.pem) for a proxy\'s static `identity:`'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and __fish_seen_subcommand_from canary" -f -a "set-weight" -d 'Set the canary\'s weight on the HTTPRoute, TrafficSplit or VirtualService routing a Service'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and __fish_seen_subcommand_from canary" -f -a "start" -d 'Start a progressive rollout, driven by the controller (recorded as a Canary object)'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and __fish_seen_subcommand_from canary" -f -a "status" -d 'Show a rollout\'s step, weights set and acked, last analysis and events'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and __fish_seen_subcommand_from canary" -f -a "promote" -d 'Skip the current step\'s analysis, or go to 100 % (--full)'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and __fish_seen_subcommand_from canary" -f -a "abort" -d 'Send all traffic back to the stable backends at once and stop the rollout'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and __fish_seen_subcommand_from canary" -f -a "pause" -d 'Hold the rollout at its current weight'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and __fish_seen_subcommand_from canary" -f -a "resume" -d 'Continue a paused rollout (its analysis window starts again)'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and __fish_seen_subcommand_from canary" -f -a "list" -d 'List the rollouts of the namespace (-A: of every namespace)'
