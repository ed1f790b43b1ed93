"""Network faults that act on the network, never on a node's good will: partitions and loss with iptables
rules, delay through a framework-controlled TCP proxy (this kernel has no netem). See `base.NetworkFaults`."""
