from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0004_kb_questions')]

    initial = False

    operations = [
        ops.AddField(model_name='OutboxMessage', name='priority', field=fields.SmallIntField(default=1)),
        ops.AddIndex(model_name='OutboxMessage', index=Index(fields=['status', 'priority', 'id'])),
        ops.AddIndex(model_name='Ticket', index=Index(fields=['assignee_id', 'status'])),
        ops.AddIndex(model_name='Ticket', index=Index(fields=['customer_id', 'status'])),
    ]
