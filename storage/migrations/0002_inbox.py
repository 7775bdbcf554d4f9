from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='InboxEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('platform', fields.CharField(max_length=16)),
                ('key', fields.CharField(unique=True, max_length=255)),
                ('channel', fields.CharField(max_length=255)),
                ('message_id', fields.CharField(max_length=255)),
                ('payload', fields.TextField(unique=False)),
                ('status', fields.CharField(default='pending', max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'inbox', 'app': 'models', 'indexes': [Index(fields=['status', 'next_attempt_at']), Index(fields=['channel', 'message_id'])], 'pk_attr': 'id', 'table_description': 'An inbound message accepted and acknowledged, waiting to be processed (storage/inbox.py).'},
            bases=['Model'],
        ),
    ]
