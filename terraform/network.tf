################################################################################
# VPC: public subnets hold the ALB (and the optional NAT gateway); tasks run in the
# private subnets and reach ECR, S3 and CloudWatch Logs through VPC endpoints.
################################################################################

resource "aws_vpc" "this" {
  cidr_block = var.vpc_cidr
  # Both are required for the interface endpoints' private DNS names to resolve.
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = { Name = var.name }

  lifecycle {
    precondition {
      condition     = length(var.public_subnet_cidrs) == length(var.private_subnet_cidrs) && length(local.azs) == length(var.public_subnet_cidrs)
      error_message = "public_subnet_cidrs, private_subnet_cidrs and availability_zones (when given) need one entry per availability zone."
    }
    precondition {
      condition     = var.enable_nat_gateway || var.enable_vpc_endpoints
      error_message = "Private tasks need enable_vpc_endpoints or enable_nat_gateway to pull images and ship logs."
    }
  }
}

# Take over the VPC's default security group and leave it without rules, so nothing that
# lands in it by accident gets traffic.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  tags = { Name = "${var.name}-default-deny" }
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = { Name = var.name }
}

resource "aws_subnet" "public" {
  count = length(var.public_subnet_cidrs)

  vpc_id            = aws_vpc.this.id
  cidr_block        = var.public_subnet_cidrs[count.index]
  availability_zone = local.azs[count.index]
  # The ALB and the NAT gateway get their addresses explicitly; nothing needs an automatic one.
  map_public_ip_on_launch = false

  tags = { Name = "${var.name}-public-${local.azs[count.index]}", Tier = "public" }
}

resource "aws_subnet" "private" {
  count = length(var.private_subnet_cidrs)

  vpc_id            = aws_vpc.this.id
  cidr_block        = var.private_subnet_cidrs[count.index]
  availability_zone = local.azs[count.index]

  tags = { Name = "${var.name}-private-${local.azs[count.index]}", Tier = "private" }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  tags = { Name = "${var.name}-public" }
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  count = length(aws_subnet.public)

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

# One route table for all private subnets: with a single (optional) NAT gateway there is
# nothing to route differently per zone.
resource "aws_route_table" "private" {
  vpc_id = aws_vpc.this.id

  tags = { Name = "${var.name}-private" }
}

resource "aws_route_table_association" "private" {
  count = length(aws_subnet.private)

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private.id
}

################################################################################
# Optional NAT gateway (one, in the first zone: cheaper than one per zone, at the cost of
# outbound internet when that zone fails; the service itself needs none).
################################################################################

resource "aws_eip" "nat" {
  count = var.enable_nat_gateway ? 1 : 0

  domain = "vpc"

  tags = { Name = "${var.name}-nat" }

  depends_on = [aws_internet_gateway.this]
}

resource "aws_nat_gateway" "this" {
  count = var.enable_nat_gateway ? 1 : 0

  allocation_id = aws_eip.nat[0].id
  subnet_id     = aws_subnet.public[0].id

  tags = { Name = var.name }
}

resource "aws_route" "private_nat" {
  count = var.enable_nat_gateway ? 1 : 0

  route_table_id         = aws_route_table.private.id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[0].id
}

################################################################################
# VPC endpoints: ECR keeps image layers in S3, so pulling needs the S3 gateway endpoint
# (free) as well as the ECR api/dkr interface endpoints; the awslogs driver needs Logs. With
# API keys on and no NAT gateway, ECS fetches the keys' secret through the task's own network
# interface (Fargate platform 1.4): Secrets Manager needs an endpoint too, or no task starts.
################################################################################

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "${local.reverse_dns_prefix}.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.private.id]

  tags = { Name = "${var.name}-s3" }
}

locals {
  # Secrets Manager only where the keys' secret has no other way in: keys on, no NAT gateway.
  interface_endpoints = concat(
    ["ecr.api", "ecr.dkr", "logs"],
    local.api_keys_enabled && !var.enable_nat_gateway ? ["secretsmanager"] : [],
  )
}

resource "aws_vpc_endpoint" "interface" {
  for_each = var.enable_vpc_endpoints ? toset(local.interface_endpoints) : toset([])

  vpc_id              = aws_vpc.this.id
  service_name        = "${local.reverse_dns_prefix}.${local.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.endpoints[0].id]
  private_dns_enabled = true

  tags = { Name = "${var.name}-${replace(each.key, ".", "-")}" }
}

################################################################################
# Flow logs
################################################################################

resource "aws_flow_log" "this" {
  count = var.enable_flow_logs ? 1 : 0

  vpc_id               = aws_vpc.this.id
  traffic_type         = "ALL"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flow_logs[0].arn
  iam_role_arn         = aws_iam_role.flow_logs[0].arn

  tags = { Name = var.name }
}
