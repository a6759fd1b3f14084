// Pod interface wiring (veth, addresses, proxy ARP/NDP, sysctls): issue 5.
export {};
